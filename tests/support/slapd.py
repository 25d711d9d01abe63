"""A real OpenLDAP server (Debian's slapd) for the tests, configured and loaded in a temp folder.

    with Slapd() as server:                          # config + slapadd -q + start: ~1-2 s
        conn = server.admin()                        # python-ldap over LDAPS, CA verified, bound
        server.limited().search_s(...)               # a bind whose size limit is 5
        server.stop(); server.start()

The server listens on ``ldap://127.0.0.1:PORT/`` (StartTLS, or plain: OpenLDAP's default allows
simple binds without TLS, so the "insecure" connection setting can be tested here),
``ldaps://127.0.0.1:PORT2/`` (free high ports) and a ``ldapi://`` socket in its folder. Its
configuration is a ``cn=config`` folder made by ``slapadd -n0`` from a generated LDIF: back_mdb
(no sync to disk), suffix ``dc=usersync,dc=test``, rootdn ``cn=admin,dc=usersync,dc=test``, the
syncprov overlay with a session log (for content-sync tests; ``syncprov=False`` leaves it
out), schemas core, cosine, inetorgperson and nis, TLS 1.2
minimum with a certificate of a test CA (``trustme``, SANs 127.0.0.1 and localhost). Everything
runs as a plain child process from that folder (``-F``): Debian's ``/etc/ldap`` and its service
are never used.

Who can bind: ``admin_dn`` (the rootdn: no limits), ``reader_dn`` (read-only service account,
subject to the global size limit: ``size_limit``, unlimited by default, OpenLDAP ships 500) and
``limited_dn`` (at most ``limited_size`` = 5 entries per search, paged or not). Anonymous binds
see nothing.

Contents (definitions in ``directory_data.py``), under ``ou=People,dc=usersync,dc=test``:
``ou=Headquarters`` (17 + ``ou=Engineering`` with 4), ``ou=Warehouse`` (15, and
``cn=WH-KIOSK-01``, a device), ``ou=Elsewhere`` (2), ``ou=Bulk`` (1,600), as ``inetOrgPerson``
entries ``uid=KEY,…`` (uid, cn, givenName, sn, displayName, mail = the primary address, mobile,
title, departmentNumber = the department name, employeeNumber), except the two whose CN is the
RDN: ``cn=O'Brien\\, Seán`` and ``cn=Smith\\+Jones``. Groups (``groupOfNames``) under
``ou=Groups``: All Staff (1,636 members), Sales ⊃ Sales EMEA ⊃ Sales Nordics, Cycle A ⇄ Cycle B.
OpenLDAP has no disabled or expired accounts: those people are ordinary entries here.

The pieces it shares with samba.py live in servers.py (processes, ports, folders) and
ldap_server.py (TLS connections, the test CA, ``LdapServer``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
import subprocess
import time
from pathlib import Path

import ldap
import ldap.dn
import ldif

from support.ldap_server import LdapServer, ServerCertificates
from support.servers import ChildProcess, free_port, new_folder, tail, which

from support import directory_data as data

PREFIX = "usersync-slapd-"
BASE_DN = "dc=usersync,dc=test"
PEOPLE_DN = f"ou=People,{BASE_DN}"
GROUPS_DN = f"ou=Groups,{BASE_DN}"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
MODULE_PATH = "/usr/lib/ldap"
#: Content sync (RFC 4533) for the main database; its session log lets a refresh name deletions.
SYNCPROV = """
dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: 10000
"""


# -- the directory -------------------------------------------------------------------------------

def ou_dn(path: tuple[str, ...] | str) -> str:
    parts = (path,) if isinstance(path, str) else path
    return ",".join([*(f"ou={ldap.dn.escape_dn_chars(p)}" for p in reversed(parts)), PEOPLE_DN])


def person_dn(person: data.Person) -> str:
    if person.key in data.SPECIAL_CN:  # their CN is the point: the RDN here too
        return f"cn={ldap.dn.escape_dn_chars(person.common_name)},{ou_dn(person.ou)}"
    return f"uid={person.key},{ou_dn(person.ou)}"


def group_dn(name: str) -> str:
    return f"cn={ldap.dn.escape_dn_chars(name)},{GROUPS_DN}"


def person_attributes(person: data.Person) -> dict[str, list[str]]:
    attrs = {"objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
             "uid": [person.key], "cn": [person.common_name], "givenName": [person.given_name],
             "sn": [person.surname]}
    if person.ou != ("Bulk",):
        attrs["displayName"] = [person.display]
    optional = {"mail": person.primary_email, "mobile": person.mobile, "title": person.title,
                "departmentNumber": person.department, "employeeNumber": person.employee_id}
    attrs.update({name: [value] for name, value in optional.items() if value})
    return attrs


def ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


class Slapd(LdapServer):
    def __init__(self, *, size_limit: int | str = "unlimited", limited_size: int = 5,
                 populate: bool = True, start_timeout: float = 30.0,
                 syncprov: bool = True) -> None:
        self.size_limit, self.limited_size = size_limit, limited_size
        self.syncprov = syncprov  # False: a server that cannot tell what changed (no content sync)
        self.populate, self.start_timeout = populate, start_timeout
        self.host, self.base_dn, self.people_dn, self.groups_dn = (
            "127.0.0.1", BASE_DN, PEOPLE_DN, GROUPS_DN)
        self.admin_dn, self.admin_password = f"cn=admin,{BASE_DN}", secrets.token_urlsafe(18)
        self.reader_dn, self.reader_password = f"cn=reader,{BASE_DN}", secrets.token_urlsafe(18)
        self.limited_dn, self.limited_password = f"cn=limited,{BASE_DN}", secrets.token_urlsafe(18)
        self._admin_who, self._reader_who = self.admin_dn, self.reader_dn
        self.port: int | None = None
        self.tls_port: int | None = None
        self.folder: Path | None = None
        self.tls: ServerCertificates | None = None
        self.timings: dict[str, float] = {}
        self._server: ChildProcess | None = None

    # -- what tests use (and LdapServer's connect, admin, reader, use_certificate, frozen) ----

    @property
    def url_ldap(self) -> str:
        return f"ldap://{self.host}:{self.port}/"

    @property
    def url_ldaps(self) -> str:
        return f"ldaps://{self.host}:{self.tls_port}/"

    @property
    def url_ldapi(self) -> str:
        return "ldapi://" + str(self.folder / "ldapi").replace("/", "%2F")  # type: ignore[operator]

    @property
    def _default_url(self) -> str:
        return self.url_ldaps

    def limited(self):
        return self.connect(who=self.limited_dn, password=self.limited_password)

    # -- lifecycle (and LdapServer's stop, restart, close) ----------------------------------------

    def start(self) -> Slapd:
        if self.folder is None:
            self._create()
        if self.running:
            return self
        assert self.folder is not None and self._server is not None
        started = time.monotonic()
        for attempt in range(5):  # another process may take a free port before slapd binds it
            if self.port is None:
                self.port, self.tls_port = free_port(), free_port()
            urls = f"{self.url_ldap} {self.url_ldaps} {self.url_ldapi}"
            try:
                self._server.start([which("slapd"), "-d", "none", "-h", urls,
                                    "-F", str(self.folder / "slapd.d")],
                                   cwd=self.folder, env=self._env(), ready=self._answers,
                                   timeout=self.start_timeout)
                break
            except RuntimeError as error:
                if "Address already in use" not in str(error) or attempt == 4:
                    raise
                self.port = self.tls_port = None
        self.timings.setdefault("start", time.monotonic() - started)
        return self

    # -- how ----------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
        env["LDAPNOINIT"] = "1"  # our client settings only, not /etc/ldap/ldap.conf or ~/.ldaprc
        return env

    def _create(self) -> None:
        self.folder = new_folder(PREFIX, "slapd.pid")
        self._server = ChildProcess("slapd", self.folder / "slapd.log")
        self.tls = ServerCertificates(self.folder, ("127.0.0.1", "localhost"), "localhost")
        started = time.monotonic()
        (self.folder / "slapd.d").mkdir()
        (self.folder / "data").mkdir()
        self._slapadd(["-n0"], self._config_ldif())
        self.timings["configure"] = time.monotonic() - started
        started = time.monotonic()
        self._slapadd(["-q", "-b", BASE_DN], self._data_ldif())
        self.timings["populate"] = time.monotonic() - started

    def _slapadd(self, args: list[str], content: str) -> None:
        assert self.folder is not None
        done = subprocess.run([which("slapadd"), "-F", str(self.folder / "slapd.d"), *args],
                              input=content, capture_output=True, text=True, cwd=self.folder,
                              env=self._env(), check=False)
        if done.returncode != 0:
            raise RuntimeError(f"slapadd {' '.join(args)} failed ({done.returncode}):\n"
                               f"{tail(done.stdout + done.stderr)}")

    def _config_ldif(self) -> str:
        assert self.folder is not None and self.tls is not None
        folder, tls = self.folder, self.tls
        schemas = "\n".join(f"include: file:///etc/ldap/schema/{name}.ldif" for name in SCHEMAS)
        limited = (f'dn.exact="{self.limited_dn}" size.soft={self.limited_size} '
                   f"size.hard={self.limited_size} size.pr=noEstimate "
                   f"size.prtotal={self.limited_size}")
        return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcArgsFile: {folder}/slapd.args
olcSizeLimit: {self.size_limit}
olcTLSCACertificateFile: {tls.ca_file}
olcTLSCertificateFile: {tls.cert_file}
olcTLSCertificateKeyFile: {tls.key_file}
olcTLSProtocolMin: 3.3
olcLogLevel: none

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_PATH}
olcModuleLoad: back_mdb
{"olcModuleLoad: syncprov" if self.syncprov else ""}

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcAccess: {{0}}to dn.base="" by * read
olcAccess: {{1}}to dn.base="cn=Subschema" by * read

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber={os.getegid()}+uidNumber={os.geteuid()},cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {folder}/data
olcSuffix: {BASE_DN}
olcRootDN: {self.admin_dn}
olcRootPW: {ssha(self.admin_password)}
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,mail,member eq
olcDbIndex: cn,sn,givenName eq,sub
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by dn.exact=gidNumber={os.getegid()}+uidNumber={os.geteuid()},cn=peercred,cn=external,cn=auth manage by users read by * none
olcLimits: {{0}}{limited}
""" + (SYNCPROV if self.syncprov else "")

    def _data_ldif(self) -> str:
        out = io.StringIO()
        writer = ldif.LDIFWriter(out, cols=1000)

        def add(dn: str, attrs: dict[str, list[str]]) -> None:
            writer.unparse(dn, {k: [v.encode() for v in vs] for k, vs in attrs.items()})

        add(BASE_DN, {"objectClass": ["dcObject", "organization"], "dc": ["usersync"],
                      "o": ["usersync test"]})
        for dn, cn, password in ((self.reader_dn, "reader", self.reader_password),
                                 (self.limited_dn, "limited", self.limited_password)):
            add(dn, {"objectClass": ["organizationalRole", "simpleSecurityObject"], "cn": [cn],
                     "userPassword": [ssha(password)]})
        for dn, ou in ((PEOPLE_DN, "People"), (GROUPS_DN, "Groups")):
            add(dn, {"objectClass": ["organizationalUnit"], "ou": [ou]})
        for path in data.OUS:
            add(ou_dn(path), {"objectClass": ["organizationalUnit"], "ou": [path[-1]]})
        if self.populate:
            for person in data.PEOPLE:
                add(person_dn(person), person_attributes(person))
            add(f"cn=WH-KIOSK-01,{ou_dn(('Warehouse',))}",
                {"objectClass": ["device"], "cn": ["WH-KIOSK-01"]})
            for group in data.GROUPS:
                members = [person_dn(p) for p in data.group_direct_people(group.name)]
                members += [group_dn(g) for g in group.groups]
                attrs = {"objectClass": ["groupOfNames"], "cn": [group.name], "member": members}
                if group.description:
                    attrs["description"] = [group.description]
                add(group_dn(group.name), attrs)
        return out.getvalue()
