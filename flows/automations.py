"""The Prefect Automations shipped with orderwatch, applied (created or updated, by name) at start-up."""

from __future__ import annotations

from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

__all__ = ["NOTIFY_AUTOMATION", "apply_automations"]

NOTIFY_AUTOMATION = "orderwatch: notify whoever an escalation is raised to"
NOTIFY_DEPLOYMENT = "notify-escalation/notify-escalation"


async def apply_automations() -> list[str]:
    """Create or update each shipped automation; returns their names."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(NOTIFY_DEPLOYMENT)
    wanted = Automation(
        name=NOTIFY_AUTOMATION,
        description="Every orderwatch.escalation.raised event runs the notify-escalation deployment for its case.",
        trigger=EventTrigger(
            expect={"orderwatch.escalation.raised"},
            match=ResourceSpecification({"prefect.resource.id": "orderwatch.case.*"}),
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment.id,
                parameters={
                    "case_ref": "{{ event.resource.name }}",
                    "escalation_no": "{{ event.payload.escalation_no }}",
                    "raised_to": "{{ event.payload.raised_to }}",
                },
                job_variables=None,
            )
        ],
    )
    try:
        existing = await Automation.aread(name=NOTIFY_AUTOMATION)
    except ValueError:
        existing = None
    if existing is None:
        await wanted.acreate()
    else:
        wanted.id = existing.id
        await wanted.aupdate()
    return [NOTIFY_AUTOMATION]


if __name__ == "__main__":
    import asyncio

    print("\n".join(asyncio.run(apply_automations())))
