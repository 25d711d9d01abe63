"""An organization's settings: name, time zone, phone region, notification addresses and which
runs email them, and (operators only) the contact limit. Admins change them; viewers read them.

The values are checked by the organization services (``usersync.app.orgs.services``), as on the
command line (``usersync org edit``); this form only parses what a person types and says what is
wrong next to the field it is about.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from usersync.app.accounts import access
from usersync.app.orgs import services
from usersync.app.orgs.models import NotifyOn, Organization
from usersync.core import normalize
from usersync.core.normalize import FieldError

#: Addresses are separated by commas, semicolons, spaces or line breaks, as people paste them.
SEPARATORS = re.compile(r"[\s,;]+")
MAX_ADDRESSES = 50


class SettingsForm(forms.Form):
    name = forms.CharField(max_length=200, label="Name")
    time_zone = forms.CharField(
        max_length=64, label="Time zone",
        help_text="Where schedules run at :01 and times in emails are said, e.g. Europe/Paris.")
    default_region = forms.CharField(
        max_length=2, min_length=2, label="Default phone region",
        help_text="For phone numbers without a country code: a region code such as US, GB, NL.")
    notification_emails = forms.CharField(
        required=False, label="Notification addresses", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who gets the summary after a run, blocked-run and failure emails. One per "
                  "line, or separated by commas. Empty: nobody.")
    notify_on = forms.ChoiceField(choices=NotifyOn.choices, widget=forms.RadioSelect,
                                  label="Email the summary after")
    contact_limit = forms.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, label="Contact limit",
        help_text="Active contacts the plan allows; empty for no limit. Operators only.")

    def __init__(self, *args, operator: bool, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        if not operator:
            del self.fields["contact_limit"]
        self.fields["notify_on"].choices = [
            (value, label if value != NotifyOn.EVERY_RUN else "Every run")
            for value, label in NotifyOn.choices]

    def clean_notification_emails(self) -> list[str]:
        """Every address checked, and every bad one named (not only the first)."""
        addresses = [a for a in SEPARATORS.split(self.cleaned_data["notification_emails"]) if a]
        if len(addresses) > MAX_ADDRESSES:
            raise ValidationError(f"at most {MAX_ADDRESSES} addresses")
        problems = []
        for address in addresses:
            try:
                normalize.email(address, "notification_emails")
            except FieldError as error:
                problems.append(error.message)
        if problems:
            raise ValidationError(problems)
        return list(dict.fromkeys(normalize.email(a) for a in addresses))

    def clean_default_region(self) -> str:
        return self.cleaned_data["default_region"].strip().upper()

    def clean_time_zone(self) -> str:
        return self.cleaned_data["time_zone"].strip()


def initial_of(org: Organization) -> dict:
    return {"name": org.name, "time_zone": org.time_zone, "default_region": org.default_region,
            "notification_emails": "\n".join(org.notification_emails or ()),
            "notify_on": org.notify_on, "contact_limit": org.contact_limit}


@login_required
def organization_settings(request, slug: str):
    org = access.require_org(request, slug, write=request.method == "POST")
    operator = access.is_operator(request.user)
    form = SettingsForm(request.POST or None, initial=initial_of(org), operator=operator)
    if request.method == "POST" and form.is_valid() and _saved(org, form):
        messages.success(request, f"Saved the settings of {form.cleaned_data['name']}.")
        return redirect("portal:organization-settings", slug=org.slug)
    return render(request, "portal/org_settings.html", {
        "org": org, "form": form, "writable": access.can_write(request, org),
        "operator": operator, "notify_on": NotifyOn(org.notify_on).label,
        "time_zones": _time_zones(), "regions": sorted(phonenumbers.SUPPORTED_REGIONS),
        "mail_server": bool(getattr(settings, "SMTP_URL", "")),
    }, status=400 if form.errors else 200)


def _saved(org: Organization, form: SettingsForm) -> bool:
    """Change the organization through its services; their problems go next to their fields."""
    changes = dict(form.cleaned_data)
    fresh = Organization.objects.get(pk=org.pk)  # a failed check leaves ``org`` as it was shown
    try:
        services.edit_organization(fresh, **changes)
    except FieldError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    return not form.errors


@cache
def _time_zones() -> list[str]:
    return sorted(available_timezones())
