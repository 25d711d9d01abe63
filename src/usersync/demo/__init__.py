"""Demo data bundled with usersync: ``directory.ldif``, an Active Directory export of a small
company (made by scripts/make_demo_directory.py), to try a sync without a directory."""
