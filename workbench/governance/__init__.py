"""Governance: CEL policies, the gate for model calls / tool calls / messages, approvals, audit."""
