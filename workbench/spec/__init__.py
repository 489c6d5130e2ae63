"""Engine-neutral crew spec: schema, YAML loading, validation."""

from workbench.spec.schema import AgentSpec, CrewSpec, ScriptEntry, TaskSpec, TopologySpec

__all__ = ["AgentSpec", "CrewSpec", "ScriptEntry", "TaskSpec", "TopologySpec"]
