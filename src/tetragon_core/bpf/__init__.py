"""BPF plumbing: the libbpf binding, objects, maps and the shared ring buffer."""
