"""One outbox delivery pass in a process of its own, as the deliver_notifications task runs it (settings
from LEADOPS_* variables); the chaos tests SIGKILL it while a receiver holds a message."""
from __future__ import annotations

from datetime import timedelta


def main() -> None:
    from leadops.config import get_settings
    from leadops.db.unit_of_work import sql_units
    from leadops.notify.outbox import deliver
    from leadops.notify.senders import sender_for

    s = get_settings()
    out = deliver(sql_units(s.database_url), sender_for(s), lease=timedelta(seconds=s.outbox_lease_seconds))
    print(out, flush=True)


if __name__ == "__main__":
    main()
