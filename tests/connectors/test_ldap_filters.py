"""LDAP filters: the admin's filter validated, groups and exclusions added, every value escaped."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usersync.connectors.errors import ConfigurationError
from usersync.connectors.ldap_filters import (
    ad_groups_filter,
    build_filter,
    escape_pattern,
    exclusion_filter,
    validate_filter,
)

AD_DEFAULT = "(&(objectCategory=person)(objectClass=user))"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(objectClass=user)", "(objectClass=user)"),
        ("objectClass=user", "(objectClass=user)"),
        ("  (objectClass=user)  ", "(objectClass=user)"),
        ("(&(objectCategory=person)(objectClass=user))", AD_DEFAULT),
        ("(& (objectCategory=person)\n  (objectClass=user) )", AD_DEFAULT),
        ("(!(userAccountControl:1.2.840.113556.1.4.803:=2))",
         "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"),
        ("(memberOf:1.2.840.113556.1.4.1941:=CN=G\\2cOU=x)",
         "(memberOf:1.2.840.113556.1.4.1941:=CN=G\\2cOU=x)"),
        ("(cn=John Smith)", "(cn=John Smith)"),
        ("(cn=*)", "(cn=*)"),
        ("(cn=J*n*h)", "(cn=J*n*h)"),
        ("(cn=)", "(cn=)"),
        ("(cn~=jon)", "(cn~=jon)"),
        ("(employeeNumber>=100)", "(employeeNumber>=100)"),
        ("(employeeNumber<=100)", "(employeeNumber<=100)"),
        ("(2.5.4.3=x)", "(2.5.4.3=x)"),
        ("(userCertificate;binary=*)", "(userCertificate;binary=*)"),
        ("(ou:dn:=Sales)", "(ou:dn:=Sales)"),
        ("(:dn:2.5.13.5:=Sales)", "(:dn:2.5.13.5:=Sales)"),
        ("(cn=O\\27Brien \\28Sales\\29)", "(cn=O\\27Brien \\28Sales\\29)"),
        ("(cn=Zoë Ångström)", "(cn=Zoë Ångström)"),
        ("(|(department=Sales)(department=Support))", "(|(department=Sales)(department=Support))"),
    ],
)
def test_valid_filters_are_accepted_in_a_compact_form(text, expected):
    assert validate_filter(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("(objectClass=user", "expected ')'"),
        ("(objectClass=user))", "after the filter"),
        ("((objectClass=user)", "attribute=value"),
        ("(&)", "at least one condition"),
        ("(|)", "at least one condition"),
        ("(!)", "expected '('"),
        ("(objectClass)", "attribute=value"),
        ("(=user)", "start with an attribute name"),
        ("(object Class=user)", "attribute=value"),
        ("(1abc=x)", "not an attribute name"),
        ("(cn=a(b)", r"\28"),
        ("(cn=a\\zz)", "escape"),
        ("(cn=a\\2)", "escape"),
        ("(cn~=a*)", "allowed only with '='"),
        ("(cn>=*)", "allowed only with '='"),
        ("(cn=a\x00)", "NUL"),
        ("(bad rule:=x)", "attribute=value"),
        ("(cn:1.2.x:=y)", "matching rule"),
        ("(&(a=b)(c=d)", "expected ')'"),
    ],
)
def test_invalid_filters_are_refused_with_a_reason_and_a_hint(text, reason):
    with pytest.raises(ConfigurationError) as caught:
        validate_filter(text)
    assert caught.value.code == "invalid_filter"
    assert reason in caught.value.message
    assert "(&(objectClass=user)" in caught.value.hint


def test_the_error_gives_the_position_of_the_problem():
    with pytest.raises(ConfigurationError) as caught:
        validate_filter("(&(cn=a)(sn=b(c))")
    assert "at character 14" in caught.value.message


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("sAMAccountName=svc-*", "(!(sAMAccountName=svc-*))"),
        ("description=*service*", "(!(description=*service*))"),
        ("title=Intern", "(!(title=Intern))"),
        (" title = Intern ", "(!(title=Intern))"),
        ("cn=O'Brien (temp)", "(!(cn=O'Brien \\28temp\\29))"),
        ("cn=a\\b", "(!(cn=a\\5cb))"),
        ("cn=x)(objectClass=*", "(!(cn=x\\29\\28objectClass=*))"),
        ("cn=a**b", "(!(cn=a*b))"),
        ("extensionAttribute1=*", "(!(extensionAttribute1=*))"),
    ],
)
def test_exclusions_escape_everything_but_the_wildcard(rule, expected):
    assert exclusion_filter(rule) == expected
    validate_filter(expected)


@pytest.mark.parametrize("rule", ["no equals sign", "=value", "bad name=x", "cn=", "(cn=x)"])
def test_bad_exclusion_rules_are_configuration_errors(rule):
    with pytest.raises(ConfigurationError) as caught:
        exclusion_filter(rule)
    assert caught.value.code == "invalid_exclusion"


@given(st.text())
def test_any_pattern_becomes_one_valid_filter_value(pattern):
    value = escape_pattern(pattern)
    assert not re.search(r"[()\x00]", value)
    assert re.fullmatch(r"(?:[^\\]|\\[0-9a-f]{2})*", value)
    if pattern.strip() and "=" not in pattern[:1]:
        validate_filter(f"(cn={value})")


def test_ad_groups_use_the_in_chain_rule_and_escape_the_dn():
    single = ad_groups_filter([r"CN=Sales\, EMEA (all),OU=Groups,DC=acme,DC=example"])
    assert single == ("(memberOf:1.2.840.113556.1.4.1941:="
                      r"CN=Sales\5c, EMEA \28all\29,OU=Groups,DC=acme,DC=example)")
    validate_filter(single)
    both = ad_groups_filter(["CN=A,DC=x", "CN=B*,DC=x"])
    assert both == ("(|(memberOf:1.2.840.113556.1.4.1941:=CN=A,DC=x)"
                    "(memberOf:1.2.840.113556.1.4.1941:=CN=B\\2a,DC=x))")


def test_a_group_that_is_not_a_dn_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        ad_groups_filter(["Sales Team"])
    assert caught.value.code == "invalid_dn"


def test_each_kind_has_its_default_filter():
    assert build_filter("active_directory", None) == AD_DEFAULT
    assert build_filter("ldap", None) == "(objectClass=inetOrgPerson)"
    assert build_filter("ldap", "  ") == "(objectClass=inetOrgPerson)"


def test_filter_groups_and_exclusions_are_and_ed():
    built = build_filter("active_directory", "(department=Sales)", ["CN=G,DC=x"],
                         ["sAMAccountName=svc-*"])
    assert built == ("(&(department=Sales)(memberOf:1.2.840.113556.1.4.1941:=CN=G,DC=x)"
                     "(!(sAMAccountName=svc-*)))")
    validate_filter(built)


def test_openldap_groups_are_not_in_the_filter_they_are_walked():
    assert build_filter("ldap", None, ["cn=staff,ou=groups,dc=x"]) == "(objectClass=inetOrgPerson)"


def test_an_invalid_admin_filter_fails_the_build():
    with pytest.raises(ConfigurationError):
        build_filter("active_directory", "(objectClass=user")


def test_an_unknown_kind_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        build_filter("novell", None)
    assert caught.value.code == "unknown_kind"
