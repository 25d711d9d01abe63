"""Building a run's records in steps (``app.sync.building``): the phone numbers validated by a
real helper process, the raw values released; the same results as ``planning.build_records``."""

from __future__ import annotations

import time

import pytest

from core.builders import GLOBAL, MULTI, policy, record
from usersync.app.sync import building
from usersync.core import normalize, planning
from usersync.core.desired import Desired, Rejected
from usersync.core.records import Snapshot

PHONES = ["+1 650 253 {:04d}", "(650) 253-{:04d}", "650.253.{:04d}", "+44 20 7946 {:04d}",
          "555-{:04d}", "0{:04d}", "not a phone {}"]


def people(count: int, locations: bool = False):
    """Records with phone numbers of every kind (valid, national, foreign, invalid, missing,
    shared by two people)."""
    made = []
    for i in range(count):
        phone = {} if i % 9 == 0 else {"sms_phone": PHONES[i % len(PHONES)].format(i // 2)}
        made.append(record("Ada", f"Person{i}", anchor=f"a{i}", email=f"p{i}@example.com",
                           locations=("hq",) if locations else None, **phone))
    return made


def outcome(built) -> list:
    """What building gave, without the records themselves (which building releases)."""
    return [(b.field, b.reason, b.anchor, b.keys) if isinstance(b, Rejected)
            else [(d.anchor, d.location, dict(d.values)) for d in b] for b in built]


@pytest.fixture
def forgetful(monkeypatch):
    """Every number unknown at first: the helper and the run have the work to do."""
    monkeypatch.setattr(normalize, "_REMEMBERED", {})


@pytest.mark.parametrize("placement", [GLOBAL, MULTI])
def test_records_built_with_the_phone_helper_are_what_planning_builds(monkeypatch, forgetful,
                                                                      placement):
    monkeypatch.setattr(building, "AHEAD_FROM", 10)
    monkeypatch.setattr(building, "STEP", 7)
    made = policy(placement=placement)
    expected = outcome(planning.build_records(people(300, placement is MULTI), made))
    normalize._REMEMBERED.clear()

    built = building.build_records(people(300, placement is MULTI), made)

    assert outcome(built) == expected
    assert any(isinstance(b, Rejected) and b.field == "sms_phone" for b in built)
    assert any(isinstance(b, list) and b[0].values.get("sms_phone") for b in built)


def test_the_helper_process_answers_every_number_as_phonenumbers_does(forgetful):
    numbers = [normalize.phone_key(PHONES[i % len(PHONES)].format(i), "us") for i in range(1200)]
    with building.PhoneHelper(numbers) as helper:
        deadline = time.monotonic() + 60
        while helper.answered < len(numbers) and time.monotonic() < deadline:
            time.sleep(0.05)
            helper.remember_answers()
    assert helper.answered == len(numbers)
    assert all(normalize.is_remembered(*key) for key in numbers)
    answers = [normalize.e164_remembered(*key) for key in numbers]  # from memory: all remembered
    assert answers == [normalize.e164(*key) for key in numbers]
    assert answers.count(None) > 100  # invalid ones too


def test_without_a_helper_the_run_validates_every_number_itself(monkeypatch, forgetful):
    monkeypatch.setattr(building, "AHEAD_FROM", 10)
    monkeypatch.setattr(building.sys, "executable", "/nonexistent/python")
    made = policy()
    expected = outcome(planning.build_records(people(60), made))
    normalize._REMEMBERED.clear()

    assert outcome(building.build_records(people(60), made)) == expected


def test_a_helper_that_cannot_run_is_reported_and_the_run_validates_itself(monkeypatch, forgetful,
                                                                          caplog):
    monkeypatch.setattr(building, "AHEAD_FROM", 10)
    monkeypatch.setattr(building.PhoneHelper, "module", "usersync.no_such_module")
    made = policy()
    expected = outcome(planning.build_records(people(60), made))
    normalize._REMEMBERED.clear()

    with building.PhoneHelper([("+1 650 253 0000", "US")]) as helper:
        deadline = time.monotonic() + 30
        while helper._process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    assert outcome(building.build_records(people(60), made)) == expected
    assert "No module named usersync.no_such_module" in caplog.text
    assert "the run validated the numbers itself" in caplog.text


def test_built_records_are_released_and_plan_as_before():
    made = policy()
    records = people(40)
    built = building.build_records(records, made)

    assert all(r.attributes == {} for r in records)
    assert all(isinstance(b, Rejected) or all(isinstance(d, Desired) for d in b) for b in built)
    fresh = people(40)
    assert (planning.plan(Snapshot.full(records), [], made, built=built).to_data()
            == planning.plan(Snapshot.full(fresh), [], made).to_data())
