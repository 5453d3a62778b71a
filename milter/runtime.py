"""Everything built from one configuration that serves messages: pipeline, next hop.

A reload builds a new Runtime and swaps it in; transactions already open keep the
one they started with, so a SIGHUP never changes a message half-way.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from milter.config import CongvuConfig, NextHopKind
from milter.nexthop import MaildirNextHop, NextHop, SmtpNextHop
from milter.pipeline import AddHeader, Pipeline, Stage


@dataclass(frozen=True, slots=True)
class Runtime:
    """The pipeline and next hop of one configuration."""

    config: CongvuConfig
    pipeline: Pipeline
    next_hop: NextHop

    async def close(self) -> None:
        """Release what this runtime holds open."""
        await self.next_hop.close()


def build_stages(config: CongvuConfig) -> list[Stage]:
    """The configured stages, in DESIGN.md's order."""
    stages: list[Stage] = [
        AddHeader(header.name, header.value) for header in config.pipeline.add_headers
    ]
    return stages


def build_next_hop(config: CongvuConfig) -> NextHop:
    """The next hop the configuration names."""
    hop = config.next_hop
    if hop.kind is NextHopKind.MAILDIR:
        return MaildirNextHop(hop.maildir)
    hostname = config.service.hostname
    if hostname == "localhost":
        hostname = socket.getfqdn()
    return SmtpNextHop(hop, local_hostname=hostname)


def build_runtime(config: CongvuConfig) -> Runtime:
    """Build everything a configuration needs to serve (keys load here, once)."""
    return Runtime(config=config, pipeline=Pipeline(build_stages(config)), next_hop=build_next_hop(config))
