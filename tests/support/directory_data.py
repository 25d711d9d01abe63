"""The people, OUs and groups that both test directories are loaded with, defined once.

``tests/support/samba.py`` turns them into Active Directory objects and ``tests/support/slapd.py``
into ``inetOrgPerson`` entries, so a test can compute what a sync should find from these values
(``people_in("headquarters")``, ``group_members("Sales")``) instead of repeating numbers.

The tree (OU paths are relative to the test root: ``OU=Usersync Test,DC=usersync,DC=test`` on
Samba, ``ou=People,dc=usersync,dc=test`` on slapd)::

    Headquarters            21 people (4 of them in the sub-OU below)  → location "headquarters"
      Engineering            4 people
    Warehouse               15 people                                   → location "warehouse"
    Elsewhere                2 people (in no mapped OU)
    Bulk                 1,600 minimal people (givenName, sn, mail only)

Named people (``NAMED``, 38): accented and non-Latin names (José Núñez, Zoë Müller, Łukasz
Wąsowski, Thảo Nguyễn, 王芳 …); a CN with a comma (``O'Brien, Seán``) and one with a ``+``
(``Smith+Jones``); 3 disabled accounts (bwilliams, hlindqvist, pschneider) and one whose account
expired (asharma) — AD only, OpenLDAP has no such state; hbecker whose ``mail`` still has her old
address while her primary SMTP address is the new one (AD); nbrown with a mobile but no mailbox;
several with ``smtp:`` aliases. Mobiles are valid numbers (no 555), all different.

Groups (``GROUPS``): "All Staff" (every named person of Headquarters and Warehouse, disabled ones
included, and all 1,600 Bulk people: 1,636 members, more than AD's 1,500-value range); "Sales" ⊃
"Sales EMEA" ⊃ "Sales Nordics" (nested, with people from several OUs and one from Elsewhere);
"Cycle A" ⊃ "Cycle B" ⊃ "Cycle A" (a membership loop, as AD allows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

DOMAIN = "usersync.test"
#: Where the directories put each OU path; the tests map the first two to locations.
LOCATIONS = {"headquarters": "Headquarters", "warehouse": "Warehouse"}
#: OU paths, parents first; each is a tuple from the test root down.
OUS: tuple[tuple[str, ...], ...] = (
    ("Headquarters",),
    ("Headquarters", "Engineering"),
    ("Warehouse",),
    ("Elsewhere",),
    ("Bulk",),
)
BULK_COUNT = 1600
#: People whose CN needs escaping in a DN (``O'Brien\, Seán``, ``Smith\+Jones``); OpenLDAP names
#: them by CN too (everybody else is ``uid=KEY``).
SPECIAL_CN = ("sobrien", "rsmithjones")
#: accountExpires of the expired contractor: 2024-01-01, long past.
EXPIRED_AT = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    key: str  # sAMAccountName on AD, uid on OpenLDAP: short, ASCII, unique
    given_name: str
    surname: str
    ou: tuple[str, ...]
    title: str = ""
    department: str = ""
    employee_id: str = ""
    mobile: str = ""
    email: str | None = ""  # primary address ("" → key@domain; None → no mailbox at all)
    aliases: tuple[str, ...] = ()  # secondary addresses (AD: smtp: proxyAddresses)
    mail: str | None = None  # the ``mail`` attribute when it differs from the primary address
    cn: str | None = None  # the RDN value when it differs from the display name
    display_name: str | None = None
    disabled: bool = False  # AD: userAccountControl 514
    expired: bool = False  # AD: accountExpires in the past (EXPIRED_AT)

    @property
    def display(self) -> str:
        return self.display_name or f"{self.given_name} {self.surname}"

    @property
    def common_name(self) -> str:
        return self.cn or self.display

    @property
    def primary_email(self) -> str | None:
        if self.email is None:
            return None
        return self.email or f"{self.key}@{DOMAIN}"

    @property
    def mail_attribute(self) -> str | None:
        return self.mail or self.primary_email

    @property
    def location(self) -> str | None:
        """The location the tests map this person's OU to (None: in no mapped OU)."""
        for location, top in LOCATIONS.items():
            if self.ou[0] == top:
                return location
        return None

    @property
    def active(self) -> bool:
        """What an AD sync should consider active (OpenLDAP has no disabled state)."""
        return not (self.disabled or self.expired)


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...] = ()  # person keys
    groups: tuple[str, ...] = ()  # names of member groups
    include_bulk: bool = False
    mail: str | None = None
    distribution: bool = False  # AD: a universal distribution group (a mailing list)
    description: str = field(default="", compare=False)


HQ, ENG, WH, ELSE = ("Headquarters",), ("Headquarters", "Engineering"), ("Warehouse",), ("Elsewhere",)


def _p(key, given, sn, ou, title, dept, n, mobile="", **extra) -> Person:
    return Person(key, given, sn, ou, title, dept, f"E{n:04d}", mobile, **extra)


NAMED: tuple[Person, ...] = (
    # Headquarters
    _p("jnunez", "José", "Núñez", HQ, "Chief Executive Officer", "Executive", 1001, "+1 415 312 0101",
       email="jose.nunez@usersync.test", aliases=("jnunez@usersync.test", "ceo@usersync.test")),
    _p("zmuller", "Zoë", "Müller", HQ, "Chief Financial Officer", "Finance", 1002, "+1 415 312 0102",
       email="zoe.muller@usersync.test", aliases=("zoe.mueller@usersync.test",)),
    _p("sobrien", "Seán", "O'Brien", HQ, "Account Executive", "Sales", 1003, "+1 415 312 0103",
       email="sean.obrien@usersync.test", display_name="O'Brien, Seán"),
    _p("rsmithjones", "Robin", "Smith+Jones", HQ, "Paralegal", "Legal", 1004, "+1 415 312 0104",
       email="robin.smith-jones@usersync.test", cn="Smith+Jones"),
    _p("flefevre", "François", "Lefèvre", HQ, "Marketing Manager", "Marketing", 1005,
       "+33 6 12 34 56 78", email="francois.lefevre@usersync.test"),
    _p("sodegaard", "Søren", "Ødegaard", HQ, "Regional Sales Manager", "Sales", 1006,
       "+47 412 34 567", email="soren.odegaard@usersync.test"),
    _p("cdubois", "Chloé", "Dubois", HQ, "Sales Representative", "Sales", 1007, "+1 415 312 0107",
       email="chloe.dubois@usersync.test"),
    _p("hbecker", "Hannah", "Becker", HQ, "HR Business Partner", "Human Resources", 1008,
       "+49 151 23456789", email="hannah.becker@usersync.test",
       aliases=("hannah.schmidt@usersync.test",), mail="hannah.schmidt@usersync.test"),
    _p("mdangelo", "Marco", "D'Angelo", HQ, "General Counsel", "Legal", 1009, "+1 415 312 0109",
       email="marco.dangelo@usersync.test"),
    _p("pfernandez", "Pilar", "Fernández", HQ, "Sales Director", "Sales", 1010, "+1 415 312 0110",
       email="pilar.fernandez@usersync.test", aliases=("sales@usersync.test",)),
    _p("tnguyen", "Thảo", "Nguyễn", HQ, "Accountant", "Finance", 1011, "+1 415 312 0111",
       email="thao.nguyen@usersync.test"),
    _p("ejohansson", "Erik", "Johansson", HQ, "Sales Engineer", "Sales", 1012, "+46 70 123 45 67",
       email="erik.johansson@usersync.test"),
    _p("gmoreau", "Gaëlle", "Moreau", HQ, "Account Manager", "Sales", 1013, "+1 415 312 0113",
       email="gaelle.moreau@usersync.test"),
    _p("bwilliams", "Brian", "Williams", HQ, "IT Technician", "IT", 1014, "+1 415 312 0114",
       email="brian.williams@usersync.test", disabled=True),
    _p("asharma", "Ananya", "Sharma", HQ, "HR Contractor", "Human Resources", 1015,
       "+1 415 312 0115", email="ananya.sharma@usersync.test", expired=True),
    _p("dkim", "Daniel", "Kim", HQ, "Account Executive", "Sales", 1016, "+1 415 312 0116",
       email="daniel.kim@usersync.test"),
    _p("ojonsdottir", "Ólöf", "Jónsdóttir", HQ, "Controller", "Finance", 1017, "+354 611 2345",
       email="olof.jonsdottir@usersync.test"),
    # Headquarters / Engineering
    _p("lwasowski", "Łukasz", "Wąsowski", ENG, "Software Engineer", "Engineering", 1018,
       "+48 512 345 678", email="lukasz.wasowski@usersync.test"),
    _p("wfang", "芳", "王", ENG, "Staff Engineer", "Engineering", 1019, "+1 415 312 0119",
       email="fang.wang@usersync.test", display_name="王芳"),
    _p("aokafor", "Adaeze", "Okafor", ENG, "Engineering Manager", "Engineering", 1020,
       "+1 415 312 0120", email="adaeze.okafor@usersync.test", aliases=("ada@usersync.test",)),
    _p("kyamamoto", "Kenji", "Yamamoto", ENG, "Site Reliability Engineer", "Engineering", 1021,
       "+1 415 312 0121", email="kenji.yamamoto@usersync.test"),
    # Warehouse
    _p("mgarcia", "Miguel", "García", WH, "Warehouse Manager", "Operations", 1022,
       "+1 415 312 0122", email="miguel.garcia@usersync.test"),
    _p("jkowalska", "Joanna", "Kowalska", WH, "Forklift Operator", "Operations", 1023,
       "+1 415 312 0123", email="joanna.kowalska@usersync.test"),
    _p("oadeyemi", "Oluwaseun", "Adeyemi", WH, "Shift Supervisor", "Operations", 1024,
       "+1 415 312 0124", email="oluwaseun.adeyemi@usersync.test"),
    _p("lrossi", "Luca", "Rossi", WH, "Inventory Clerk", "Operations", 1025, "+39 312 345 6789",
       email="luca.rossi@usersync.test"),
    _p("nbrown", "Nia", "Brown", WH, "Picker", "Operations", 1026, "+1 415 312 0126", email=None),
    _p("ipetrov", "Ivan", "Petrov", WH, "Loader", "Operations", 1027, "+1 415 312 0127",
       email="ivan.petrov@usersync.test"),
    _p("sjensen", "Sofie", "Jensen", WH, "Logistics Coordinator", "Sales", 1028, "+45 20 12 34 56",
       email="sofie.jensen@usersync.test"),
    _p("tmurphy", "Tadhg", "Murphy", WH, "Forklift Operator", "Operations", 1029, "+353 85 123 4567",
       email="tadhg.murphy@usersync.test"),
    _p("yhaddad", "Yasmin", "Haddad", WH, "Safety Officer", "Operations", 1030, "+1 415 312 0130",
       email="yasmin.haddad@usersync.test"),
    _p("rcosta", "Rafael", "Costa", WH, "Receiving Clerk", "Operations", 1031, "+1 415 312 0131",
       email="rafael.costa@usersync.test"),
    _p("hlindqvist", "Hedda", "Lindqvist", WH, "Picker", "Operations", 1032, "+1 415 312 0132",
       email="hedda.lindqvist@usersync.test", disabled=True),
    _p("pschneider", "Paul", "Schneider", WH, "Loader", "Operations", 1033, "+1 415 312 0133",
       email="paul.schneider@usersync.test", disabled=True),
    _p("aberg", "Astrid", "Berg", WH, "Dispatcher", "Operations", 1034, "+1 415 312 0134",
       email="astrid.berg@usersync.test"),
    _p("kwalker", "Kevin", "Walker", WH, "Driver", "Operations", 1035),  # no mobile
    _p("mlopez", "María", "López", WH, "Inventory Analyst", "Operations", 1036, "+1 415 312 0136",
       email="maria.lopez@usersync.test"),
    # Elsewhere: in no mapped OU
    _p("ecarter", "Emily", "Carter", ELSE, "Sales Consultant", "Sales", 1037, "+1 415 312 0137",
       email="emily.carter@usersync.test"),
    _p("vnovak", "Václav", "Novák", ELSE, "External Auditor", "Finance", 1038, "+420 601 123 456",
       email="vaclav.novak@usersync.test"),
)

_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
          "Noah", "Emma", "Liam", "Olivia", "Mateo", "Amara", "Yuki", "Priya", "Omar", "Ines")
_LAST = ("Anderson", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Gupta", "Hughes", "Ivanova",
         "Jones", "Khan", "Larsen", "Mendes", "Novak", "Ortiz", "Patel", "Reyes", "Silva",
         "Tanaka", "Weber")


def _bulk(i: int) -> Person:
    given, sn = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
    return Person(f"bulk{i:04d}", given, sn, ("Bulk",), cn=f"{given} {sn} {i:04d}",
                  email=f"bulk{i:04d}@usersync.test")


BULK: tuple[Person, ...] = tuple(_bulk(i) for i in range(1, BULK_COUNT + 1))
PEOPLE: tuple[Person, ...] = NAMED + BULK
BY_KEY = {p.key: p for p in PEOPLE}

GROUPS: tuple[Group, ...] = (
    Group("All Staff", members=tuple(p.key for p in NAMED if p.location), include_bulk=True,
          mail="allstaff@usersync.test", distribution=True, description="Everybody, as a list"),
    Group("Sales", members=("pfernandez", "dkim", "sobrien", "ecarter"), groups=("Sales EMEA",)),
    Group("Sales EMEA", members=("cdubois", "gmoreau", "flefevre"), groups=("Sales Nordics",)),
    Group("Sales Nordics", members=("sodegaard", "ejohansson", "sjensen")),
    Group("Cycle A", members=("jnunez",), groups=("Cycle B",)),
    Group("Cycle B", members=("mgarcia",), groups=("Cycle A",)),
)
GROUPS_BY_NAME = {g.name: g for g in GROUPS}


def group_direct_people(name: str) -> list[Person]:
    group = GROUPS_BY_NAME[name]
    keys = list(group.members) + ([p.key for p in BULK] if group.include_bulk else [])
    return [BY_KEY[k] for k in keys]


def group_members(name: str, nested: bool = True) -> list[Person]:
    """The people of a group; with ``nested``, those of its member groups too (loops allowed)."""
    seen_groups, found, pending = set(), {}, [name]
    while pending:
        current = pending.pop()
        if current in seen_groups:
            continue
        seen_groups.add(current)
        for person in group_direct_people(current):
            found.setdefault(person.key, person)
        if nested:
            pending.extend(GROUPS_BY_NAME[current].groups)
    return list(found.values())


def people_in(location_or_ou: str | tuple[str, ...], *, subtree: bool = True) -> list[Person]:
    """People under a location (``"headquarters"``) or an OU path (``("Headquarters",)``)."""
    if isinstance(location_or_ou, str):
        ou = (LOCATIONS.get(location_or_ou) or location_or_ou,)
    else:
        ou = tuple(location_or_ou)
    if subtree:
        return [p for p in PEOPLE if p.ou[: len(ou)] == ou]
    return [p for p in PEOPLE if p.ou == ou]


def check() -> None:
    """Fail loudly if the definitions above break their own rules (run by the tests)."""
    keys = [p.key for p in PEOPLE]
    assert len(keys) == len(set(keys)), "person keys must be unique"
    assert all(len(k) <= 20 and k.isascii() for k in keys), "keys become sAMAccountNames"
    addresses = [a for p in PEOPLE for a in (p.primary_email, *p.aliases) if a]
    assert len(addresses) == len(set(addresses)), "e-mail addresses must be unique"
    mobiles = [p.mobile for p in PEOPLE if p.mobile]
    assert len(mobiles) == len(set(mobiles)), "mobiles must be unique"
    for group in GROUPS:
        assert all(k in BY_KEY for k in group.members), group.name
        assert all(g in GROUPS_BY_NAME for g in group.groups), group.name
    assert len(group_members("All Staff", nested=False)) > 1500
