"""The portal tests' organizations, made in the server's database before it starts.

Run as a script by ``conftest.py`` (``python portal_data.py FOLDER``) with the server's
``USERSYNC_HOME``: one process for all of it, since each command-line call pays Django's start-up.
It goes through the same services as the command line and the portal (``create_organization``,
``create_contact``, ``create_source``, ``runs.sync``), and prints what the tests need as JSON.

- ``globex``: a CSV source whose "Dana Scully" row is a conflict (her Identification is one
  unmanaged contact's, her email another's), and people to ignore.
- ``initech``: a CSV source of 30 people; the tests remove 12 from its file to block a run.
- ``umbrella``: a CSV source of 5 people, to remove.
- ``stark``: two locations and no source yet: the wizard sets one up against the test slapd.
- ``hooli``: two CSV sources that both claim two people: two conflicts nobody resolves, so that
  sorting by Conflicts has an organization to bring to the top whatever the other tests did.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for support.*


def people(domain: str, count: int, department: str = "Sales") -> list[str]:
    from support.syncing import person
    return [person(n, location="", email=f"person{n}@{domain}", dept=department)
            for n in range(1, count + 1)]


def csv_source(org, name: str, path: Path, rows: list[str]):
    from support.syncing import csv_bytes

    from usersync.app import sources
    from usersync.app.directory.models import Trigger
    from usersync.app.sync import readers, runs

    path.write_bytes(csv_bytes(*rows))
    source = sources.create_source(org, name, "csv", {"path": str(path)})
    outcome = runs.sync(source, readers.configured_reader(source), trigger=Trigger.CLI)
    assert outcome.error is None, outcome.error
    return source


DANA = "Dana,Scully,dana@globex.example,,Research,,G-0007,"


def main(folder: Path) -> dict:
    from usersync.app.directory.contacts import create_contact
    from usersync.app.orgs.services import create_organization

    globex = create_organization("globex", "Globex Corporation")
    scully = create_contact(globex, {"first_name": "Dana", "last_name": "Scully",
                                     "email": "d.scully@globex.example",
                                     "identification": "G-0007", "department": "Research"})
    katz = create_contact(globex, {"first_name": "Dana", "last_name": "Katz",
                                   "email": "dana@globex.example", "department": "Research"})
    hr = csv_source(globex, "globex-hr", folder / "globex-hr.csv",
                    [*people("globex.example", 12), DANA])
    initech = create_organization("initech", "Initech")
    payroll_file = folder / "initech-payroll.csv"
    payroll = csv_source(initech, "payroll", payroll_file, people("initech.example", 30))
    umbrella = create_organization("umbrella", "Umbrella Corporation")
    legacy = csv_source(umbrella, "legacy-hr", folder / "umbrella.csv",
                        people("umbrella.example", 5, "Research"))
    create_organization("stark", "Stark Industries", ["headquarters", "warehouse"])
    hooli = create_organization("hooli", "Hooli")
    csv_source(hooli, "crm", folder / "hooli-crm.csv", people("hooli.example", 3))
    csv_source(hooli, "hooli-ad", folder / "hooli-ad.csv", people("hooli.example", 4)[1:])
    return {
        "globex": {"source": hr.pk, "scully": scully.pk, "katz": katz.pk},
        "initech": {"source": payroll.pk, "file": str(payroll_file)},
        "umbrella": {"source": legacy.pk},
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "usersync.app.settings")
    import django
    django.setup()
    print(json.dumps(main(Path(sys.argv[1]))))
