"""The kernel's HTTP endpoints: identity, the audit log, health.

They sit above the kernel (they need ``exchange.deps``, which needs identity's guards),
so that no package of the kernel imports itself through them.
"""
