"""Named sets of PAF signature rules.

The PAF specification and its reference implementation (OneKey-Network/OneKey-implementation,
``paf-mvp-core-js/src/signing-definition``) disagree in places, and the implementation changed
its rules over time. Data signed in each era stays valid only under the rule it was made with, so
every rule is chosen by *profile*:

``spec``
    The text of the specification (``mvp-spec/json-schemas``): messages put the timestamp right
    after sender and receiver; preference values are written as plain text.
``implementation`` (default)
    The reference implementation today: messages put the timestamp *after* the nested signatures;
    preference values are JSON-encoded; requests end with the HTTP ``origin`` (REST) or the
    ``referer`` and ``returnUrl`` (redirect) — added in 2022-05.
``legacy``
    The implementation before origin/referer were added: requests end with the timestamp.

One historical profile is accepted too, but not listed in :data:`PROFILES`:

``prebinding``
    ``legacy`` before 2022-03-21, when a preferences signature did not yet cover the
    ``paf_browser_id`` identifier's signature. The published example ``preferences.json`` was
    signed under it. Use it only to audit data from that time: it does not bind preferences to a
    user, so anyone could move them onto another identifier.
"""

from __future__ import annotations

from typing import Final

from sigil.errors import UnknownProfile

SPEC: Final = "spec"
IMPLEMENTATION: Final = "implementation"
LEGACY: Final = "legacy"
PREBINDING: Final = "prebinding"

PROFILES: Final[tuple[str, ...]] = (SPEC, IMPLEMENTATION, LEGACY)
HISTORICAL_PROFILES: Final[tuple[str, ...]] = (PREBINDING,)
ALL_PROFILES: Final[tuple[str, ...]] = PROFILES + HISTORICAL_PROFILES
DEFAULT_PROFILE: Final = IMPLEMENTATION


def check_profile(profile: object) -> str:
    """``profile`` if it names a known profile, else :class:`~sigil.errors.UnknownProfile`."""
    if not isinstance(profile, str) or profile not in ALL_PROFILES:
        known = ", ".join(ALL_PROFILES)
        raise UnknownProfile(f"unknown profile {profile!r}; known profiles: {known}")
    return profile
