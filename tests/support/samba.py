"""A real Samba Active Directory domain controller for the tests, provisioned into a temp folder.

    with SambaDomain() as dc:                       # provision + fill + start: ~15-25 s
        conn = dc.admin()                           # python-ldap, LDAPS, CA verified, bound
        conn.search_s(dc.base_dn, ldap.SCOPE_SUBTREE, "(sAMAccountName=jnunez)")
        dc.stop(); dc.start()                       # a lost server, and back
        with dc.use_certificate(not_after_days=10): # a certificate that expires soon
            ...

The domain is ``USERSYNC.TEST`` (NetBIOS ``USERSYNC``, DC ``dc.usersync.test``), base DN
``DC=usersync,DC=test``. Samba listens on a loopback address of its own, ``host``: 127.0.0.7, or
the next of 127.0.0.70-99 when another test session holds it (a lock file per address in the temp
folder), added to ``lo`` when missing and removed at the end only if we added it; where addresses
cannot be added (a container without CAP_NET_ADMIN), 127.0.0.1 if its ports are free. It serves
LDAP (StartTLS) on 389, LDAPS on 636, CLDAP and a KDC, with a server certificate of a test CA
(``trustme``) whose SANs are the address and ``dc.usersync.test``. Like a hardened AD it refuses
simple binds without TLS (strongerAuthRequired). Unlike Windows, Samba does not cap a plain
``member`` read at 1,500 values; it does honour explicit ``member;range=…`` requests.

Contents (definitions in ``directory_data.py``, under ``OU=Usersync Test,DC=usersync,DC=test``):

    OU=Headquarters           17 users + OU=Engineering (4 users) + CN=Vendor Contact (a contact)
    OU=Warehouse              15 users + CN=WH-KIOSK-01 (a computer: objectClass user, but not a
                              person, so the default filter skips it)
    OU=Elsewhere               2 users
    OU=Bulk                1,600 users (givenName, sn, mail, userPrincipalName)
    OU=Groups                 All Staff (1,636 members; a universal distribution group with mail),
                              Sales ⊃ Sales EMEA ⊃ Sales Nordics, Cycle A ⊃ Cycle B ⊃ Cycle A

Named users carry givenName, sn, displayName, mail, proxyAddresses (``SMTP:`` primary and
``smtp:`` aliases), mobile, title, department, employeeID, userPrincipalName (``key@usersync.test``)
and userAccountControl 512; the disabled ones 514; asharma's accountExpires is in the past;
jnunez has a thumbnailPhoto (a tiny PNG). Users have no password (AD lets the system create
enabled users without one; nobody binds as them), except the read-only service account
``CN=usersync-reader,CN=Users,DC=usersync,DC=test`` (``reader_dn``, ``reader_upn``,
``reader_password``), which is what a customer would give usersync.

How it is built, and why (CPU seconds on a 2-core machine; a busy machine takes longer):
``samba-tool domain provision`` (~7 s), then the entries are added straight into ``sam.ldb`` by
Samba's own Python bindings before the server starts (~7-9 s for 1,650 objects, in batches of 200;
adds over LDAP run at ~130/s and are no faster), then ``samba -i -M single`` answers LDAPS within
about a second. ``prepare()`` does the first two and may run in a background thread
(tests/integration/conftest.py starts it right after collection, so it overlaps the tests that
run first); ``start()`` must run in a thread that outlives the server (the main thread): the
server is killed when the thread that started it ends, so a killed test run leaves no DC
behind. ``stop()``/``start()`` keep the domain (a restart takes ~1 s); ``close()`` deletes it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import ldap
import ldap.dn

from support import directory_data as data
from support.ldap_server import LdapServer, ServerCertificates
from support.servers import ChildProcess, dies_with_parent, new_folder, tail, which

PREFIX = "usersync-samba-"
REALM, DOMAIN, DNS_DOMAIN = "USERSYNC.TEST", "USERSYNC", data.DOMAIN
BASE_DN = "DC=usersync,DC=test"
TEST_ROOT = f"OU=Usersync Test,{BASE_DN}"
GROUPS_OU = f"OU=Groups,{TEST_ROOT}"
HOSTNAME = "dc.usersync.test"
ADDRESSES = ("127.0.0.7", *(f"127.0.0.{n}" for n in range(70, 100)))
NORMAL_ACCOUNT, DISABLED_ACCOUNT, DONT_EXPIRE_PASSWORD = 0x200, 0x202, 0x10000
WORKSTATION_TRUST_ACCOUNT = 0x1000
#: A 1x1 PNG, jnunez's thumbnailPhoto.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


class SambaError(RuntimeError):
    """The domain could not be provisioned, filled or started; the message has the log."""


def filetime(when: datetime) -> int:
    """AD's time format: 100-ns intervals since 1601-01-01 UTC (accountExpires, pwdLastSet)."""
    return int((when - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()) * 10_000_000


def ou_dn(path: tuple[str, ...] | str) -> str:
    """``("Headquarters", "Engineering")`` → ``OU=Engineering,OU=Headquarters,OU=Usersync Test,…``."""
    parts = (path,) if isinstance(path, str) else path
    return ",".join([*(f"OU={ldap.dn.escape_dn_chars(p)}" for p in reversed(parts)), TEST_ROOT])


def person_dn(person: data.Person) -> str:
    return f"CN={ldap.dn.escape_dn_chars(person.common_name)},{ou_dn(person.ou)}"


def group_dn(name: str) -> str:
    return f"CN={ldap.dn.escape_dn_chars(name)},{GROUPS_OU}"


def person_attributes(person: data.Person) -> dict[str, list[str | bytes]]:
    """The AD attributes of a directory_data person (str values; bytes for binary ones)."""
    uac = DISABLED_ACCOUNT if person.disabled else NORMAL_ACCOUNT
    attrs: dict[str, list[str | bytes]] = {
        "objectClass": ["user"],
        "sAMAccountName": [person.key],
        "userPrincipalName": [f"{person.key}@{DNS_DOMAIN}"],
        "givenName": [person.given_name],
        "sn": [person.surname],
        "userAccountControl": [str(uac)],
    }
    if person.ou != ("Bulk",):
        attrs["displayName"] = [person.display]
    optional = {"mobile": person.mobile, "title": person.title, "department": person.department,
                "employeeID": person.employee_id, "mail": person.mail_attribute}
    attrs.update({name: [value] for name, value in optional.items() if value})
    if person.primary_email and person.ou != ("Bulk",):
        attrs["proxyAddresses"] = [f"SMTP:{person.primary_email}",
                                   *(f"smtp:{alias}" for alias in person.aliases)]
    if person.expired:
        attrs["accountExpires"] = [str(filetime(data.EXPIRED_AT))]
    if person.key == "jnunez":
        attrs["thumbnailPhoto"] = [TINY_PNG]
    return attrs


def fixture_entries() -> list[tuple[str, dict[str, list[str | bytes]]]]:
    """Every object the standard directory adds, parents first."""
    entries = [(TEST_ROOT, {"objectClass": ["organizationalUnit"]}),
               (GROUPS_OU, {"objectClass": ["organizationalUnit"]})]
    entries += [(ou_dn(path), {"objectClass": ["organizationalUnit"]}) for path in data.OUS]
    entries += [(person_dn(p), person_attributes(p)) for p in data.PEOPLE]
    entries.append((f"CN=Vendor Contact,{ou_dn(('Headquarters',))}", {
        "objectClass": ["contact"], "givenName": ["Vera"], "sn": ["Vendor"],
        "mail": ["vera@vendor.example"], "displayName": ["Vera Vendor (contractor)"]}))
    entries.append((f"CN=WH-KIOSK-01,{ou_dn(('Warehouse',))}", {
        "objectClass": ["computer"], "sAMAccountName": ["WH-KIOSK-01$"],
        "userAccountControl": [str(WORKSTATION_TRUST_ACCOUNT)]}))
    for group in data.GROUPS:
        attrs: dict[str, list[str | bytes]] = {
            "objectClass": ["group"], "sAMAccountName": [group.name.replace(" ", "")[:20]],
            # universal distribution (a mailing list) / global security
            "groupType": ["8" if group.distribution else str(-0x80000000 + 2)],
        }
        if group.mail:
            attrs["mail"] = [group.mail]
        if group.description:
            attrs["description"] = [group.description]
        entries.append((group_dn(group.name), attrs))
    return entries


def fixture_memberships() -> list[tuple[str, list[str]]]:
    """(group DN, member DNs), added once every group exists (they nest, and loop)."""
    return [(group_dn(g.name), [person_dn(p) for p in data.group_direct_people(g.name)]
             + [group_dn(name) for name in g.groups]) for g in data.GROUPS]


# Run by Samba's Python (/usr/bin/python3): writes the entries into sam.ldb, offline, in batches.
_LOADER = r"""
import base64, json, sys
import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
job = json.load(sys.stdin)
lp = LoadParm(); lp.load(job["smb_conf"])
db = SamDB(url=job["sam_ldb"], session_info=system_session(), lp=lp)
def value(v):
    return base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode()
def message(dn, attrs):
    msg = ldb.Message(ldb.Dn(db, dn))
    for name, values in attrs.items():
        msg[name] = ldb.MessageElement([value(v) for v in values], ldb.FLAG_MOD_ADD, name)
    return msg
db.transaction_start()  # batches: one transaction per object is slower, one in all too
for n, (dn, attrs) in enumerate(job["entries"]):
    if n % 200 == 199:
        db.transaction_commit(); db.transaction_start()
    try:
        db.add(message(dn, attrs))
    except ldb.LdbError as error:
        sys.exit(f"adding {dn}: {error}")
for dn, members in job["memberships"]:
    db.modify(message(dn, {"member": members}))
db.transaction_commit()
"""


def _json_value(value: str | bytes) -> str | dict:
    return {"b64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value


class SambaDomain(LdapServer):
    #: Samba may say it is busy while it starts.
    _not_ready = (*LdapServer._not_ready, ldap.BUSY)

    def __init__(self, *, populate: bool = True, start_timeout: float = 60.0) -> None:
        self.populate, self.start_timeout = populate, start_timeout
        self.realm, self.domain, self.base_dn, self.test_root = REALM, DOMAIN, BASE_DN, TEST_ROOT
        self.groups_dn, self.hostname = GROUPS_OU, HOSTNAME
        self.admin_password = secrets.token_urlsafe(18) + "aA1!"  # meets AD complexity rules
        self.admin_upn = f"administrator@{DNS_DOMAIN}"
        self.admin_dn = f"CN=Administrator,CN=Users,{BASE_DN}"
        self.reader_password = secrets.token_urlsafe(18) + "bB2?"
        self.reader_upn = f"usersync-reader@{DNS_DOMAIN}"
        self.reader_dn = f"CN=usersync-reader,CN=Users,{BASE_DN}"
        self._admin_who, self._reader_who = self.admin_upn, self.reader_upn
        self.host: str | None = None
        self.folder: Path | None = None
        self.tls: ServerCertificates | None = None
        self.timings: dict[str, float] = {}
        self._server: ChildProcess | None = None
        self._address_lock = None
        self._added_address = False
        self._prepared = False
        self._prepare_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._background_error: BaseException | None = None

    # -- what tests use (and LdapServer's connect, admin, reader, use_certificate, frozen) ----

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}"

    @property
    def ldap_url(self) -> str:
        """The plain LDAP port: StartTLS, or nothing (simple binds without TLS are refused)."""
        return f"ldap://{self.host}"

    @property
    def smb_conf(self) -> Path:
        assert self.folder is not None
        return self.folder / "domain" / "etc" / "smb.conf"

    @property
    def _default_url(self) -> str:
        return self.ldaps_url

    # -- lifecycle (and LdapServer's stop, restart) ---------------------------------------------

    def prepare_in_background(self) -> None:
        """Provision and fill in a thread; ``start()`` waits for it."""
        def run() -> None:
            try:
                self.prepare()
            except BaseException as error:  # noqa: BLE001 — re-raised by start()
                self._background_error = error
        self._background = threading.Thread(target=run, name="samba-prepare", daemon=True)
        self._background.start()

    def prepare(self) -> None:
        """Claim an address, provision the domain, add the fixture entries. Idempotent; on
        failure nothing is left behind (folder, address)."""
        with self._prepare_lock:
            if self._prepared:
                return
            self.folder = new_folder(PREFIX, "run/samba.pid")
            try:
                self._server = ChildProcess("samba", self.folder / "samba.log")
                self._claim_address()
                assert self.host is not None
                self.tls = ServerCertificates(self.folder, (self.host, HOSTNAME), HOSTNAME)
                started = time.monotonic()
                self._provision()
                self.timings["provision"] = time.monotonic() - started
                if self.populate:
                    started = time.monotonic()
                    self._load(fixture_entries() + [self._reader_entry()], fixture_memberships())
                    self.timings["populate"] = time.monotonic() - started
            except BaseException:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None
                self._release_address()
                raise
            self._prepared = True

    def start(self) -> SambaDomain:
        if self._background is not None:
            waited = time.monotonic()
            self._background.join()
            self._background = None
            self.timings["waited for prepare"] = time.monotonic() - waited
            if self._background_error is not None:
                raise self._background_error
        self.prepare()
        if self.running:
            return self
        assert self.folder is not None and self._server is not None
        started = time.monotonic()
        try:
            self._server.start([which("samba"), "-i", "-M", "single", "-s", str(self.smb_conf)],
                               cwd=self.folder, env=self._env(), ready=self._answers,
                               timeout=self.start_timeout)
        except RuntimeError as error:
            raise SambaError(str(error)) from None
        self.timings.setdefault("start", time.monotonic() - started)
        return self

    def close(self) -> None:
        """Stop the server, delete the domain, give the address back."""
        if self._background is not None:
            self._background.join()
            self._background = None
        super().close()
        self._release_address()
        self._prepared = False

    # -- how ----------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KRB5", "LDAP"))}
        env.update(TDB_NO_FSYNC="1", LDAPNOINIT="1")  # a throwaway database: no fsync
        return env

    def _claim_address(self) -> None:
        """The first candidate that no other test session holds and nothing listens on, added
        to ``lo`` if missing. Where addresses cannot be added (a container without
        CAP_NET_ADMIN, no ``ip``), 127.0.0.1 when its ports 88/389/636 are free."""
        if os.geteuid() != 0:
            raise SambaError("the Samba DC must run as root (it serves ports 389/636 and adds a "
                             "loopback address); CI runs as root")
        try:
            shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True,
                                   text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as error:
            shown, cannot_add = "", f"ip: {error}"
        else:
            cannot_add = ""
        for address in (*ADDRESSES, "127.0.0.1"):
            present = address == "127.0.0.1" or f"inet {address}/" in shown
            if not present and cannot_add:
                continue
            lock = open(os.path.join(tempfile.gettempdir(), f"usersync-samba-{address}.lock"),  # noqa: SIM115
                        "w")  # held (flock) until close()
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            if not all(_port_free(address, port) for port in (88, 389, 636)):
                lock.close()
                continue
            if not present:
                added = subprocess.run(["ip", "addr", "add", f"{address}/8", "dev", "lo"],
                                       capture_output=True, text=True, check=False)
                if added.returncode != 0:
                    cannot_add = added.stderr.strip()
                    lock.close()
                    continue
                self._added_address = True
            self._address_lock, self.host = lock, address
            return
        raise SambaError(f"no loopback address for Samba: {ADDRESSES} are taken or cannot be "
                         f"added ({cannot_add or 'all in use'}) and 127.0.0.1's ports 88, 389, "
                         "636 are in use")

    def _release_address(self) -> None:
        if self._added_address:
            subprocess.run(["ip", "addr", "del", f"{self.host}/8", "dev", "lo"],
                           capture_output=True, check=False)
            self._added_address = False
        if self._address_lock is not None:
            self._address_lock.close()
            self._address_lock = None

    def _provision(self) -> None:
        assert self.folder is not None and self.tls is not None
        folder, run = self.folder, self.folder / "run"
        options = {
            "interfaces": self.host, "bind interfaces only": "yes",
            "server services": "ldap,cldap,kdc", "ldap server require strong auth": "yes",
            "tls enabled": "yes", "tls keyfile": self.tls.key_file,
            "tls certfile": self.tls.cert_file, "tls cafile": self.tls.ca_file,
            "log file": folder / "log" / "%m.log", "pid directory": run,
            "ncalrpc dir": run / "ncalrpc", "winbindd socket directory": run / "winbindd",
            "ntp signd socket directory": run / "ntp_signd",
        }
        for sub in ("log", "run"):
            (folder / sub).mkdir()
        command = [which("samba-tool"), "domain", "provision", f"--realm={REALM}",
                   f"--domain={DOMAIN}", "--host-name=dc", "--server-role=dc",
                   "--dns-backend=NONE", f"--adminpass={self.admin_password}",
                   f"--targetdir={folder / 'domain'}"]
        command += [f"--option={name}={value}" for name, value in options.items()]
        done = subprocess.run(dies_with_parent(command), cwd=folder, env=self._env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise SambaError(f"samba-tool domain provision failed ({done.returncode}):\n"
                             f"{tail(done.stdout + done.stderr)}")

    def _reader_entry(self) -> tuple[str, dict[str, list[str | bytes]]]:
        return (self.reader_dn, {
            "objectClass": ["user"], "sAMAccountName": ["usersync-reader"],
            "userPrincipalName": [self.reader_upn], "description": ["usersync (read only)"],
            "unicodePwd": [f'"{self.reader_password}"'.encode("utf-16-le")],
            "userAccountControl": [str(NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD)],
        })

    def _load(self, entries, memberships) -> None:
        """Add entries straight into sam.ldb with Samba's Python, before the server starts."""
        assert self.folder is not None
        job = {
            "smb_conf": str(self.smb_conf),
            "sam_ldb": str(self.folder / "domain" / "private" / "sam.ldb"),
            "entries": [(dn, {k: [_json_value(v) for v in vs] for k, vs in attrs.items()})
                        for dn, attrs in entries],
            "memberships": memberships,
        }
        done = subprocess.run(dies_with_parent([_samba_python(), "-c", _LOADER]),
                              input=json.dumps(job), cwd=self.folder, env=self._env(),
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SambaError(f"filling the domain failed:\n{tail(done.stdout + done.stderr)}")


def _port_free(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _samba_python() -> str:
    """The interpreter samba-tool runs on: the one with Samba's Python bindings."""
    with open(which("samba-tool"), "rb") as script:
        words = script.readline().decode().removeprefix("#!").split()
    if words and words[0].endswith("/env") and len(words) > 1:
        return shutil.which(words[1]) or words[1]
    return words[0] if words and os.path.isabs(words[0]) else "/usr/bin/python3"
