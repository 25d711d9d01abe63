"""Write the demo Active Directory export bundled with usersync (src/usersync/demo/directory.ldif).

The demo lets someone try usersync without a directory: an ``ldapsearch``-style LDIF of a small
company, Acme, with a Headquarters and a Warehouse OU (seed 001's example of two OUs mapped to two
locations). It is generated, not hand-written, so it stays consistent (unique emails, phones and
employee IDs, valid US mobile numbers) and exercises what real exports contain: base64 values for
non-ASCII names and the binary objectGUID, lines folded at 76 columns, a DN with an escaped comma,
disabled users, a computer and a group that must not become contacts.

Deterministic: the same seed always writes the same bytes (a test checks the committed file).

    uv run python scripts/make_demo_directory.py [--output PATH]
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import phonenumbers

SEED = 1001
DOMAIN = "DC=acme,DC=example"
ACME = f"OU=Acme,{DOMAIN}"
MAIL_DOMAIN = "acme.example"
ALIAS_DOMAIN = "acme-corp.example"
OUTPUT = Path(__file__).resolve().parent.parent / "src/usersync/demo/directory.ldif"
#: (OU, enabled users, disabled users): about 60/40 between the two sites.
SITES = (("Headquarters", 123, 3), ("Warehouse", 82, 3))
NEVER_EXPIRES = "9223372036854775807"
COLS = 76
#: A value must be base64 in LDIF when it has non-ASCII bytes or starts/ends awkwardly (RFC 2849).
UNSAFE = re.compile(rb"(^[\x00\n\r :<]|[\x00\n\r\x80-\xff]|[ ]$)")

#: People whose names exercise accents and DN escaping, placed first in Headquarters.
FEATURED = (("José", "Núñez"), ("Zoë", "Müller"), ("Seán", "O'Brien"), ("François", "Lefèvre"),
            ("Björn", "Ångström"), ("Chloé", "Dubois"), ("Łukasz", "Wójcik"),
            ("Renée", "Søndergaard"))
FIRST = ("Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena",
         "Emeka", "Eva", "Farah", "Grace", "Hiro", "Ian", "Ines", "Jamal", "Jana", "Kai", "Kemal",
         "Lars", "Lea", "Lina", "Luis", "Maya", "Mei", "Mia", "Nadia", "Noah", "Omar", "Priya",
         "Quinn", "Rosa", "Sam", "Sara", "Tariq", "Tom", "Uma", "Vera", "Wei", "Yara", "Zane")
LAST = ("Adams", "Bauer", "Brown", "Castro", "Clark", "Das", "Evans", "Fischer", "Garcia", "Gupta",
        "Hall", "Ito", "Jensen", "Khan", "Kim", "Lopez", "Martin", "Meyer", "Moreau", "Nakamura",
        "Nguyen", "Novak", "Okafor", "Patel", "Quinn", "Reyes", "Rossi", "Sato", "Schmidt",
        "Silva", "Smith", "Tanaka", "Taylor", "Usman", "Vargas", "Walker", "Wang", "Weber",
        "Young", "Zhang")
DEPARTMENTS = {
    "Headquarters": {
        "Engineering": ("Software Engineer", "Senior Software Engineer", "Engineering Manager"),
        "Sales": ("Account Executive", "Sales Development Representative", "Sales Manager"),
        "Finance": ("Accountant", "Financial Analyst", "Controller"),
        "Human Resources": ("HR Generalist", "Recruiter", "People Partner"),
        "Marketing": ("Marketing Specialist", "Content Strategist"),
    },
    "Warehouse": {
        "Logistics": ("Warehouse Associate", "Forklift Operator", "Shipping Coordinator",
                      "Warehouse Supervisor"),
        "Facilities": ("Facilities Technician", "Maintenance Lead"),
        "Operations": ("Operations Manager", "Inventory Analyst"),
    },
}


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    site: str
    enabled: bool


def ascii_fold(text: str) -> str:
    """``Núñez`` → ``nunez``, ``Łukasz`` → ``lukasz``: for mail addresses and account names."""
    text = text.replace("Ł", "L").replace("ł", "l").replace("ø", "o").replace("Ø", "O")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def people(rng: random.Random) -> list[Person]:
    """Featured people first, then unique random name pairs, site by site."""
    featured = list(FEATURED)
    used = set(featured)
    found = []
    for site, enabled, disabled in SITES:
        for index in range(enabled + disabled):
            if site == "Headquarters" and featured:
                first, last = featured.pop(0)
            else:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                while (first, last) in used:
                    first, last = rng.choice(FIRST), rng.choice(LAST)
            used.add((first, last))
            found.append(Person(first, last, site, enabled=index < enabled))
    return found


def mobile(rng: random.Random, taken: set[str]) -> str:
    """A valid, unused San Francisco number (415 2xx xxxx: real exchanges, not fictional 555)."""
    while True:
        exchange, line = rng.randrange(200, 300), rng.randrange(0, 10000)
        number = phonenumbers.parse(f"+1415{exchange}{line:04d}")
        key = f"{exchange}{line:04d}"
        if key not in taken and phonenumbers.is_valid_number(number):
            taken.add(key)
            if rng.random() < 0.5:
                return f"+1 415 {exchange} {line:04d}"
            return f"+1 (415) {exchange}-{line:04d}"


def unique(base: str, taken: set[str]) -> str:
    name, counter = base, 2
    while name in taken:
        name, counter = f"{base}{counter}", counter + 1
    taken.add(name)
    return name


def user_entry(person: Person, number: int, rng: random.Random, taken: dict[str, set]) -> tuple:
    first, last = ascii_fold(person.first), ascii_fold(person.last)
    local = unique(f"{first}.{last}", taken["mail"])
    sam = unique(f"{first[0]}{last}"[:20], taken["sam"])
    cn = f"{person.last}, {person.first}" if "'" in person.last else f"{person.first} {person.last}"
    dn = f"CN={cn.replace(',', chr(92) + ',')},OU={person.site},{ACME}"
    department = rng.choice(sorted(DEPARTMENTS[person.site]))
    addresses = [f"SMTP:{local}@{MAIL_DOMAIN}"]
    if rng.random() < 0.4:
        addresses.append(f"smtp:{unique(sam, taken['alias'])}@{MAIL_DOMAIN}")
        if rng.random() < 0.5:
            addresses.append(f"smtp:{local}@{ALIAS_DOMAIN}")
    start = datetime(2025, 1, 6, tzinfo=timezone.utc)
    changed = start + timedelta(seconds=rng.randrange(90 * 86400))
    attributes = [
        ("objectClass", ["top", "person", "organizationalPerson", "user"]),
        ("cn", [cn]),
        ("sn", [person.last]),
        ("givenName", [person.first]),
        ("displayName", [f"{person.first} {person.last}"]),
        ("title", [rng.choice(DEPARTMENTS[person.site][department])]),
        ("department", [department]),
        ("company", ["Acme"]),
        ("employeeID", [f"E{number:04d}"]),
        ("mail", [f"{local}@{MAIL_DOMAIN}"]),
        ("proxyAddresses", addresses),
        ("mobile", [mobile(rng, taken["mobile"])] if rng.random() < 0.9 else []),
        ("sAMAccountName", [sam]),
        ("userPrincipalName", [f"{sam}@{MAIL_DOMAIN}"]),
        ("userAccountControl", ["512" if person.enabled else "514"]),
        ("accountExpires", [NEVER_EXPIRES]),
        ("objectGUID", [rng.randbytes(16)]),
        ("whenChanged", [changed.strftime("%Y%m%d%H%M%S.0Z")]),
    ]
    return dn, attributes


def other_entries(rng: random.Random, members: list[str]) -> list[tuple]:
    """What a subtree search from the domain also returns: containers, a computer, a group."""
    def ou(name: str, parent: str) -> tuple:
        return (f"OU={name},{parent}", [("objectClass", ["top", "organizationalUnit"]),
                                        ("ou", [name]), ("objectGUID", [rng.randbytes(16)])])

    return [
        (DOMAIN, [("objectClass", ["top", "domain", "domainDNS"]), ("dc", ["acme"]),
                  ("objectGUID", [rng.randbytes(16)])]),
        ou("Acme", DOMAIN), ou("Headquarters", ACME), ou("Warehouse", ACME),
        (f"CN=WH-SCAN01,OU=Warehouse,{ACME}", [
            ("objectClass", ["top", "person", "organizationalPerson", "user", "computer"]),
            ("cn", ["WH-SCAN01"]), ("sAMAccountName", ["WH-SCAN01$"]),
            ("dNSHostName", [f"wh-scan01.{MAIL_DOMAIN}"]), ("userAccountControl", ["4096"]),
            ("objectGUID", [rng.randbytes(16)])]),
        (f"CN=Warehouse Staff,{ACME}", [
            ("objectClass", ["top", "group"]), ("cn", ["Warehouse Staff"]),
            ("sAMAccountName", ["Warehouse Staff"]), ("groupType", ["-2147483646"]),
            ("member", members), ("objectGUID", [rng.randbytes(16)])]),
    ]


def ldif_line(name: str, value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    if UNSAFE.search(raw):
        line = f"{name}:: {base64.b64encode(raw).decode('ascii')}"
    else:
        line = f"{name}: {raw.decode('ascii')}"
    folded = [line[:COLS]] + [" " + line[i:i + COLS - 1] for i in range(COLS, len(line), COLS - 1)]
    return "\n".join(folded)


def comment(dn: str) -> str:
    """ldapsearch's comment above an entry: ``# José Núñez, Headquarters, Acme, acme.example``."""
    rdns = re.split(r"(?<!\\),", dn)
    names = [rdn.split("=", 1)[1] for rdn in rdns if not rdn.upper().startswith("DC=")]
    return ", ".join(names + [MAIL_DOMAIN])


def render(entries: list[tuple]) -> str:
    out = [
        "# Acme demo directory: an Active Directory export as ldapsearch writes it.",
        "# Written by scripts/make_demo_directory.py: edit the script, not this file.",
        "#",
        f"# base <{DOMAIN}> with scope subtree",
        "# filter: (objectClass=*)",
        "# requesting: ALL",
        "#",
        "",
    ]
    for dn, attributes in entries:
        out.append(f"# {comment(dn)}")
        out.append(ldif_line("dn", dn))
        out.extend(ldif_line(name, value) for name, values in attributes for value in values)
        out.append("")
    out += ["# search result", "search: 2", "result: 0 Success", "",
            f"# numResponses: {len(entries) + 1}", f"# numEntries: {len(entries)}", ""]
    return "\n".join(out)


def build(seed: int = SEED) -> str:
    rng = random.Random(seed)
    taken: dict[str, set] = {"mail": set(), "sam": set(), "alias": set(), "mobile": set()}
    users = [user_entry(p, n, rng, taken) for n, p in enumerate(people(rng), start=1)]
    members = [dn for dn, _ in users if ",OU=Warehouse," in dn][:12]
    return render(other_entries(rng, members) + users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    args.output.write_text(build(), encoding="utf-8", newline="\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
