"""The Prefect Automations shipped with orderwatch, applied (created, or updated when changed) at start-up.

- notify whoever an escalation is raised to (reactive, on ``orderwatch.escalation.raised``);
- the two operator alarms of :mod:`flows.alarms` (no sweep completed by the deadline; a sweep run failed).

An automation is updated only when its definition changed: an update gives its trigger a new identity, and a
proactive trigger would lose the windows it holds (the mornings announced so far).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from flows.alarms import COMPLETED, EXPECTED, FAILED_AUTOMATION, MISSED_AUTOMATION, SWEEP_DEPLOYMENT
from storage.config import SweepAlarm, sweep_alarm

__all__ = ["NOTIFY_AUTOMATION", "apply_automations", "shipped_automations"]

NOTIFY_AUTOMATION = "orderwatch: notify whoever an escalation is raised to"
NOTIFY_DEPLOYMENT = "notify-escalation/notify-escalation"
ALARM_DEPLOYMENT = "operator-alarm/operator-alarm"


def _run(deployment_id: Any, parameters: dict[str, Any]) -> RunDeployment:
    return RunDeployment(source="selected", deployment_id=deployment_id, parameters=parameters, job_variables=None)


async def shipped_automations(alarm: SweepAlarm) -> list[Automation]:
    """The automations as they should be, bound to this server's deployments."""
    async with get_client() as client:
        notify = await client.read_deployment_by_name(NOTIFY_DEPLOYMENT)
        alarm_run = await client.read_deployment_by_name(ALARM_DEPLOYMENT)
        sweep = await client.read_deployment_by_name(SWEEP_DEPLOYMENT)
    deadline = alarm.at.strftime("%H:%M:%S")
    return [
        Automation(
            name=NOTIFY_AUTOMATION,
            description="Every orderwatch.escalation.raised event runs the notify-escalation deployment for its case.",
            trigger=EventTrigger(
                expect={"orderwatch.escalation.raised"},
                match=ResourceSpecification({"prefect.resource.id": "orderwatch.case.*"}),
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=[
                _run(
                    notify.id,
                    {
                        "case_ref": "{{ event.resource.name }}",
                        "escalation_no": "{{ event.payload.escalation_no }}",
                        "raised_to": "{{ event.payload.raised_to }}",
                    },
                )
            ],
        ),
        Automation(
            name=MISSED_AUTOMATION,
            description=(
                f"Each day a daily-sweep run must complete in the {int(alarm.window.total_seconds())} s before "
                f"{deadline} Europe/London; if none has, the operators are told (operator-alarm). Windows are "
                "opened by orderwatch.sweep.expected events (see flows/alarms.py)."
            ),
            trigger=EventTrigger(
                after={EXPECTED},
                expect={COMPLETED},
                for_each={"prefect.resource.id"},
                match=ResourceSpecification({"prefect.resource.id": "orderwatch.sweep.*"}),
                posture=Posture.Proactive,
                threshold=1,
                within=alarm.window,
            ),
            actions=[
                _run(
                    alarm_run.id,
                    {
                        "kind": "sweep-missed",
                        "day": "{{ event.payload.day }}",
                        "deadline": "{{ event.payload.deadline }}",
                    },
                )
            ],
        ),
        Automation(
            name=FAILED_AUTOMATION,
            description="A daily-sweep run that fails, crashes or times out tells the operators at once.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"},
                match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
                match_related=ResourceSpecification(
                    {"prefect.resource.role": "deployment", "prefect.resource.id": f"prefect.deployment.{sweep.id}"}
                ),
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
            actions=[
                _run(
                    alarm_run.id,
                    {"kind": "sweep-failed", "flow_run": "{{ event.resource.id }}", "event": "{{ event.id | string }}"},
                )
            ],
        ),
    ]


def _definition(automation: Automation) -> dict[str, Any]:
    dumped: dict[str, Any] = automation.model_dump(mode="json", exclude={"id", "tags"})
    return dumped


async def apply_automations(alarm: SweepAlarm | None = None) -> list[str]:
    """Create each shipped automation, or update it where its definition changed; returns what was done."""
    done = []
    for wanted in await shipped_automations(alarm or sweep_alarm()):
        try:
            existing = await Automation.aread(name=wanted.name)
        except ValueError:
            existing = None
        if existing is None:
            await wanted.acreate()
            done.append(f"created: {wanted.name}")
        elif _definition(existing) != _definition(wanted):
            wanted.id = existing.id
            await wanted.aupdate()
            done.append(f"updated: {wanted.name}")
        else:
            done.append(f"unchanged: {wanted.name}")
    return done


if __name__ == "__main__":
    import asyncio

    print("\n".join(asyncio.run(apply_automations())))
