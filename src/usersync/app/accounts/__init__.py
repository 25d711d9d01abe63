"""Who may see and change which organization: memberships, API keys, and the access rules."""
