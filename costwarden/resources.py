"""The names of the metric contract that the exporter writes and the rules and the receiver read: resources, and the
labels that carry them. A new resource is added here first; the receiver's tests then ask for its words and causes in
every language, so it cannot be half-added."""

RESOURCES = ("cpu", "memory", "disk", "network_egress")
METERED_RESOURCES = ("network_egress",)
"""Resources whose use changes the invoice (egress beyond the included transfer, priced at the margin). The others
are shares of a flat price: using more of them costs capacity, not money."""

RESOURCE_LABEL = "resource"
CGROUP_LABEL = "cgroup"
