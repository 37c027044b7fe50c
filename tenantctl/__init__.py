"""tenantctl: control plane for white-label VPN Telegram bots."""

__version__ = "0.1.0"
