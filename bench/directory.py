"""A realistic directory of N people, as LDIF for ``slapadd -q``, and the day of changes made to it.

Deterministic (a seeded generator): the same ``--users`` gives the same directory on every machine.
People are ``inetOrgPerson`` entries ``uid=uNNNNNNN,ou=<office>,ou=People,…`` spread over 20
office OUs (each mapped to a location), with about 15 attributes each, as directories hold them:
object classes, uid, cn, givenName, sn, displayName, mail, mobile (70 %, in mixed national and
international formats), telephoneNumber, title, departmentNumber, employeeNumber, employeeType,
l, street, manager, userPassword. Department groups (``groupOfNames``) sit under ``ou=Groups``.
usersync's default OpenLDAP mapping reads 7 of those attributes (plus entryUUID).
"""

from __future__ import annotations

import io
import random
import unicodedata
from dataclasses import dataclass

import ldif

BASE_DN = "dc=usersync,dc=test"
PEOPLE_DN = f"ou=People,{BASE_DN}"
GROUPS_DN = f"ou=Groups,{BASE_DN}"
MAIL_DOMAIN = "bench.example"
#: Offices: the OU under People, the location it maps to, its phone area code, its city.
OFFICES = tuple(
    (name, name.lower().replace(" ", "-"), area, city) for name, area, city in (
        ("Boston", "617", "Boston"), ("New York", "212", "New York"),
        ("Chicago", "312", "Chicago"), ("Austin", "512", "Austin"),
        ("Denver", "303", "Denver"), ("Seattle", "206", "Seattle"),
        ("San Francisco", "415", "San Francisco"), ("Los Angeles", "213", "Los Angeles"),
        ("Miami", "305", "Miami"), ("Atlanta", "404", "Atlanta"),
        ("Dallas", "214", "Dallas"), ("Houston", "713", "Houston"),
        ("Phoenix", "602", "Phoenix"), ("Philadelphia", "215", "Philadelphia"),
        ("Detroit", "313", "Detroit"), ("Minneapolis", "612", "Minneapolis"),
        ("Portland", "503", "Portland"), ("Nashville", "615", "Nashville"),
        ("Pittsburgh", "412", "Pittsburgh"), ("Baltimore", "410", "Baltimore"),
    )
)
LOCATIONS = tuple(location for _name, location, _area, _city in OFFICES)
FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
         "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
         "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
         "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
         "Timothy Stephanie José Zoë Łukasz Thảo Seán Åsa Chloé Björn Nuño Renée").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
        "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
        "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
        "Roberts Müller Núñez O'Brien Wąsowski Lindqvist Schneider Becker Sharma Okafor").split()
DEPARTMENTS = ("Engineering Sales Marketing Finance Legal Support Operations Facilities "
               "Research Security Procurement Logistics Training Quality Design Product "
               "Communications Compliance Analytics Infrastructure").split()
TITLES = ("Engineer", "Senior Engineer", "Manager", "Director", "Analyst", "Specialist",
          "Coordinator", "Associate", "Consultant", "Administrator", "Technician", "Lead")
TYPES = ("Employee", "Contractor", "Intern", "Temp")


@dataclass(frozen=True)
class Person:
    number: int
    given: str
    surname: str
    office: int
    department: str
    title: str
    mobile: str

    @property
    def uid(self) -> str:
        return f"u{self.number:07d}"

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{office_dn(self.office)}"


def office_dn(office: int) -> str:
    return f"ou={OFFICES[office][0]},{PEOPLE_DN}"


def _mobile(rng: random.Random, office: int, number: int) -> str:
    """A valid, unique US number in one of the forms directories hold (30 %: none)."""
    if rng.random() < 0.3:
        return ""
    area = OFFICES[office][2]
    exchange = 200 + number // 10_000 % 800  # 2xx-9xx: valid exchanges; unique with the line
    line = number % 10_000
    style = rng.randrange(4)
    if style == 0:
        return f"+1 {area} {exchange} {line:04d}"
    if style == 1:
        return f"({area}) {exchange}-{line:04d}"
    if style == 2:
        return f"+1{area}{exchange}{line:04d}"
    return f"{area}.{exchange}.{line:04d}"


def person(rng: random.Random, number: int) -> Person:
    office = rng.randrange(len(OFFICES))
    return Person(number, rng.choice(FIRST), rng.choice(LAST), office,
                  rng.choice(DEPARTMENTS), rng.choice(TITLES), _mobile(rng, office, number))


def people(count: int, seed: int = 1) -> list[Person]:
    rng = random.Random(seed)
    return [person(rng, number) for number in range(1, count + 1)]


def attributes(p: Person, manager: Person | None) -> dict[str, list[str]]:
    office, _location, area, city = OFFICES[p.office]
    attrs = {
        "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
        "uid": [p.uid], "cn": [f"{p.given} {p.surname}"], "givenName": [p.given],
        "sn": [p.surname], "displayName": [f"{p.surname}, {p.given}"],
        "mail": [f"{ascii_only(p.given)}.{ascii_only(p.surname)}.{p.number}@{MAIL_DOMAIN}"],
        "telephoneNumber": [f"+1 {area} 555 {p.number % 10_000:04d}"],
        "title": [p.title], "departmentNumber": [p.department],
        "employeeNumber": [f"E{p.number:07d}"], "employeeType": [TYPES[p.number % len(TYPES)]],
        "l": [city], "street": [f"{p.number % 900 + 100} Main Street, {office}"],
        "userPassword": ["{SSHA}notarealpasswordhashbutlookslikeone00"],
    }
    if p.mobile:
        attrs["mobile"] = [p.mobile]
    if manager is not None:
        attrs["manager"] = [manager.dn]
    return attrs


def ascii_only(name: str) -> str:
    """A name as the local part of an address (``mail`` is IA5: ASCII only): José → jose."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


class LdifOut:
    def __init__(self) -> None:
        self.out = io.StringIO()
        self.writer = ldif.LDIFWriter(self.out, cols=10_000)

    def add(self, dn: str, attrs: dict[str, list[str]]) -> None:
        self.writer.unparse(dn, {k: [v.encode() for v in vs] for k, vs in attrs.items()})

    def text(self) -> str:
        return self.out.getvalue()


def containers(out: LdifOut, accounts: list[tuple[str, str, str]]) -> None:
    """The base, the service accounts (dn, cn, hashed password), People and Groups, the offices."""
    out.add(BASE_DN, {"objectClass": ["dcObject", "organization"], "dc": ["usersync"],
                      "o": ["usersync bench"]})
    for dn, cn, hashed in accounts:
        out.add(dn, {"objectClass": ["organizationalRole", "simpleSecurityObject"], "cn": [cn],
                     "userPassword": [hashed]})
    for dn, ou in ((PEOPLE_DN, "People"), (GROUPS_DN, "Groups")):
        out.add(dn, {"objectClass": ["organizationalUnit"], "ou": [ou]})
    for office in range(len(OFFICES)):
        out.add(office_dn(office), {"objectClass": ["organizationalUnit"],
                                    "ou": [OFFICES[office][0]]})


def directory_ldif(everyone: list[Person], accounts: list[tuple[str, str, str]]) -> str:
    out = LdifOut()
    containers(out, accounts)
    for index, p in enumerate(everyone):
        manager = everyone[index // 10] if index >= 10 else None
        out.add(p.dn, attributes(p, manager))
    for department in DEPARTMENTS:
        members = [p.dn for p in everyone if p.department == department]
        out.add(f"cn={department},{GROUPS_DN}", {"objectClass": ["groupOfNames"],
                                                "cn": [department], "member": members})
    return out.text()


@dataclass(frozen=True)
class Changes:
    """A day in the directory: 1 % modified, 0.5 % added, 0.5 % removed."""

    modified: list[Person]
    added: list[Person]
    removed: list[Person]


def day_of_changes(everyone: list[Person], seed: int = 2) -> Changes:
    rng = random.Random(seed)
    count = len(everyone)
    picked = rng.sample(range(count), count // 100 + count // 200)
    modified = [everyone[i] for i in picked[: count // 100]]
    removed = [everyone[i] for i in picked[count // 100:]]
    added = [person(rng, number) for number in range(count + 1, count + 1 + count // 200)]
    return Changes(modified, added, removed)


def modification(p: Person) -> list[tuple[str, str]]:
    """What changes for a modified person: a new title, and every other one a new department."""
    title = TITLES[(TITLES.index(p.title) + 1) % len(TITLES)]
    changes = [("title", title)]
    if p.number % 2:
        changes.append(("departmentNumber",
                        DEPARTMENTS[(DEPARTMENTS.index(p.department) + 1) % len(DEPARTMENTS)]))
    return changes
