"""The portal's pages, one module per area. Every view finds its organization through
``usersync.app.accounts.access.require_org``, as the API does."""
