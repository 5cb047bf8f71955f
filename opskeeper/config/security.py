"""Per-system security scan settings (owned by the security area)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Expected values of kernel settings; a system may override or add keys in ``sysctl``.
DEFAULT_SYSCTL: dict[str, str] = {
    "net.ipv4.ip_forward": "0",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.tcp_syncookies": "1",
    "kernel.randomize_va_space": "2",
    "fs.protected_symlinks": "1",
    "fs.protected_hardlinks": "1",
    "fs.suid_dumpable": "0",
}


class SecurityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_ports: list[int] = Field(default_factory=lambda: [22])  # the system's service ports are added
    ignore_loopback: bool = True  # sockets bound to 127.0.0.1/::1 are not exposed
    suid_paths: list[str] = Field(default_factory=lambda: ["/"])  # searched with find -xdev
    suid_allowlist: list[str] = Field(default_factory=list)  # fnmatch patterns, added to the distro's set
    world_writable_paths: list[str] = Field(default_factory=lambda: ["/etc", "/usr", "/var", "/opt", "/srv"])
    integrity_paths: list[str] = Field(default_factory=list)
    tls_endpoints: list[str] = Field(default_factory=list)  # host:port
    cert_paths: list[str] = Field(default_factory=lambda: ["/etc/ssl/certs"])
    cert_warn_days: int = Field(default=30, ge=1)
    sysctl: dict[str, str] = Field(default_factory=dict)  # overrides/additions to DEFAULT_SYSCTL
    disabled_checks: list[str] = Field(default_factory=list)
    step_timeout_s: float = Field(default=60.0, gt=0)  # per fact section on the host

    def expected_sysctl(self) -> dict[str, str]:
        return {**DEFAULT_SYSCTL, **self.sysctl}
