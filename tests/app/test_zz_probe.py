import pytest
from usersync.app import sources as services
from usersync.app.sync import readers
from support.postgres import free_port

def test_probe(acme):
    port = free_port()
    for url, extra in ((f"ldap://127.0.0.1:{port}", {"insecure": True}), (f"ldaps://127.0.0.1:{port}", {})):
        s = services.create_source(acme, "x"+str(len(extra)), "ldap", {"urls": [url], "bind_dn": "cn=x", "scopes": [{"base": "dc=x", "location": "headquarters"}], **extra}, "pw")
        try:
            readers.configured_reader(s)()
        except Exception as e:
            print(type(e), e.retryable, e.code, e, e.hint)
