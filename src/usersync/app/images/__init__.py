"""Contact images: the picture at a contact's Image URL, downloaded by a worker and served by the
portal and the API.

- ``formats``: which images are accepted, recognized by their bytes (pure);
- ``download``: one guarded HTTP download (``usersync.app.net_guard``), with limits;
- ``fetching``: the worker's chore: find contacts whose image is due, claim, download, record;
- ``serving``: the HTTP response that returns a stored image, for the portal and the API.
"""
