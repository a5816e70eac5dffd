"""Policy sections that plugins claim: discovered without imports, routed to the claiming sensor,
kept raw for it to validate; an unknown key is refused naming the claims."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from tetragon_core.exceptions import SensorError
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.registry import PolicyEntry, PolicyRegistry
from tetragon_core.sensors.registry import GROUP, SECTIONS_GROUP, discover, discover_sections

SENSOR = EntryPoint("acme_net", "acme_sensor:AcmeSensor", GROUP)
POLICY = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: acme}
spec:
  acmeFlows:
    ports: [443, 8443]
"""


def _claims(*eps: EntryPoint) -> dict[str, str]:
    return discover_sections(list(eps), discover([SENSOR]))


def test_a_claimed_section_is_routed_to_its_sensor_raw() -> None:
    claims = _claims(EntryPoint("acmeFlows", "acme_sensor:AcmeSensor", SECTIONS_GROUP))
    assert claims == {"acmeFlows": "acme_net"}
    seen: list[PolicyEntry] = []
    reg = PolicyRegistry(
        lambda: {"acme_net"}, loader=lambda e: seen.append(e) or [], claimed_sections=lambda: claims
    )
    e = reg.add(POLICY)
    assert e.state == "enabled" and e.sensors == ["acme_net"]
    assert seen[0].policy.spec.plugin_sections == {"acmeFlows": {"ports": [443, 8443]}}


def test_an_unknown_key_names_the_installed_claims() -> None:
    claims = {"acmeFlows": "acme_net", "dnsWatch": "dns_sensor"}
    reg = PolicyRegistry(lambda: set(), claimed_sections=lambda: claims)
    with pytest.raises(PolicyError) as e:
        reg.add(POLICY.replace("acmeFlows", "acmeFlow"))
    assert str(e.value) == (
        "spec.acmeFlow: unknown field: no installed sensor plugin claims it "
        "(plugin sections: acmeFlows (acme_net), dnsWatch (dns_sensor))"
    )


def test_a_claimed_section_without_its_sensor_is_a_load_error() -> None:
    reg = PolicyRegistry(lambda: set(), claimed_sections=lambda: {"acmeFlows": "acme_net"})
    e = reg.add(POLICY)
    assert e.state == "load_error" and "requires the acme_net sensor plugin" in e.error


@pytest.mark.parametrize(
    ("ep", "msg"),
    [
        (EntryPoint("kprobes", "acme_sensor:AcmeSensor", SECTIONS_GROUP), "is a core key"),
        (EntryPoint("AcmeFlows", "acme_sensor:AcmeSensor", SECTIONS_GROUP), "not lowerCamelCase"),
        (EntryPoint("acmeFlows", "nobody:Nothing", SECTIONS_GROUP), "which is no installed sensor"),
    ],
)
def test_malformed_claims_are_refused(ep: EntryPoint, msg: str) -> None:
    with pytest.raises(SensorError, match=msg):
        _claims(ep)


def test_a_key_claimed_twice_names_both() -> None:
    other = EntryPoint("other_net", "other_sensor:Other", GROUP)
    eps = [
        EntryPoint("acmeFlows", "acme_sensor:AcmeSensor", SECTIONS_GROUP),
        EntryPoint("acmeFlows", "other_sensor:Other", SECTIONS_GROUP),
    ]
    with pytest.raises(SensorError, match="claimed by sensors 'acme_net' and 'other_net'"):
        discover_sections(eps, discover([SENSOR, other]))
