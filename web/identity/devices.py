"""Telling a person's devices apart on the sessions page: the browser with its version, the system with its
version and the hardware, from the user agent the session index recorded at sign-in (ua-parser)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse as parse_user_agent

UNKNOWN_DEVICE = "Unknown device"
# ua-parser's family for what it could not name.
_UNNAMED = ("Other", "Spider", "Generic Smartphone", "Generic Feature Phone")


@dataclass(frozen=True)
class Device:
    """``browser`` "Firefox 128.0", ``system`` "Windows 10", ``hardware`` "iPhone" (each may be empty), and
    ``summary``, the short form for labels: "Firefox 128 on Windows"."""

    browser: str
    system: str
    hardware: str
    summary: str


def _version(*parts: str | None) -> str:
    """ "17.4" from ("17", "4", None): the parts that are there, up to the first missing one."""
    present: list[str] = []
    for part in parts:
        if not part:
            break
        present.append(part)
    return ".".join(present)


@lru_cache(maxsize=512)
def device_of(user_agent: str | None) -> Device:
    if not user_agent:
        return Device("", "", "", UNKNOWN_DEVICE)
    parsed = parse_user_agent(user_agent)
    agent, system, hardware = parsed.user_agent, parsed.os, parsed.device
    if agent is None or agent.family in _UNNAMED:
        raw = user_agent[:60]
        return Device(raw, "", "", raw)
    browser = " ".join(filter(None, [agent.family, _version(agent.major, agent.minor, agent.patch)]))
    system_name = system.family if system and system.family not in _UNNAMED else ""
    system_label = " ".join(filter(None, [system_name, _version(system.major, system.minor) if system else ""]))
    hardware_name = hardware.family if hardware and hardware.family not in _UNNAMED else ""
    short_browser = " ".join(filter(None, [agent.family, agent.major]))
    summary = f"{short_browser} on {system_name}" if system_name else short_browser
    if hardware_name and hardware_name not in summary:
        summary = f"{summary} ({hardware_name})"
    return Device(browser, system_label if system_name else "", hardware_name, summary)


def describe_device(user_agent: str | None) -> str:
    """ "Firefox 128 on Windows", "Mobile Safari 17 on iOS (iPhone)" — the short form."""
    return device_of(user_agent).summary
