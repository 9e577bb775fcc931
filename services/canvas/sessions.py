"""Agent sessions on the agents socket: who holds which name, and who has gone quiet.

A session is live while the agent is heard from; MISSING after INTERVAL x LIVENESS of silence (its name can
then be taken over by a reconnecting agent); ended after INTERVAL x REMOVE_AFTER. Ending a session never
touches the agent's canvas: the agent finds it again when it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

from proto.heartbeat import INTERVAL, LIVENESS, REMOVE_AFTER

LIVE = "live"
MISSING = "missing"

@dataclass(slots=True)
class Session:
    route: bytes
    agent: str
    model: str | None
    last_heard: float
    last_sent: float
    status: str = LIVE
    view: dict[str, bool] | None = None  # options for rendering this agent's view
    lists: dict[str, list[str]] | None = None  # the order of its manual's lists, told at hello (for the study)
    salon_seen: int = 0  # the seq of the salon's last event this agent was sent (its news come after it)

    def joined(self) -> dict:
        """The data of this agent's `joined` event."""
        return {"model": self.model, **({"lists": self.lists} if self.lists is not None else {})}


class Sessions:
    def __init__(self, interval: float = INTERVAL, liveness: int = LIVENESS, remove_after: int = REMOVE_AFTER):
        self.interval = interval
        self.liveness = liveness
        self.remove_after = remove_after
        self.by_route: dict[bytes, Session] = {}
        self.by_agent: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        self.by_route[session.route] = session
        self.by_agent[session.agent] = session

    def remove(self, session: Session) -> None:
        self.by_route.pop(session.route, None)
        if self.by_agent.get(session.agent) is session:
            del self.by_agent[session.agent]

    def status_of(self, agent: str) -> str:
        session = self.by_agent.get(agent)
        return session.status if session else "away"

    def sweep(self, now: float) -> tuple[list[Session], list[Session]]:
        """Mark silent sessions missing and end the long-silent ones; return (newly missing, ended)."""
        missing, ended = [], []
        for session in list(self.by_route.values()):
            silent = now - session.last_heard
            if silent > self.interval * self.remove_after:
                self.remove(session)
                ended.append(session)
            elif silent > self.interval * self.liveness and session.status == LIVE:
                session.status = MISSING
                missing.append(session)
        return missing, ended

    def needing_heartbeat(self, now: float) -> list[Session]:
        return [s for s in self.by_route.values() if now - s.last_sent >= self.interval]
