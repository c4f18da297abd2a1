"""Write the three raw_* seed CSVs of the hourly_marts demo project.

Deterministic (fixed random seed) so a rerun of regenerate.sh gives the same data.
The rows stand in for what an EL tool (Fivetran/Airbyte) would have loaded into RAW;
`_loaded_at` is the loader's timestamp used by the source freshness config.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"
FIRST = ["Maria", "Dmitri", "Priya", "Tom", "Aisha", "Lars", "Mei", "Jonas", "Ana", "Kofi",
         "Sara", "Omar", "Lena", "Raj", "Chloe", "Mateo", "Ines", "Yuki", "Noah", "Eva"]
LAST = ["Lopez", "Ivanov", "Shah", "Becker", "Khan", "Nilsson", "Chen", "Weber", "Silva",
        "Mensah", "Rossi", "Haddad", "Novak", "Patel", "Martin", "Garcia", "Costa", "Sato"]
STATUSES = ["placed", "shipped", "completed", "completed", "completed", "return_pending", "returned"]
METHODS = ["credit_card", "credit_card", "credit_card", "bank_transfer", "coupon", "gift_card"]


def main() -> None:
    rng = random.Random(20261123)
    loaded = datetime(2026, 11, 23, 2, 41, 7)
    customers = []
    for cid in range(1, 101):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = date(2025, 1, 1) + timedelta(days=rng.randint(0, 600))
        customers.append([cid, first, last, f"{first}.{last}{cid}@mail.example".lower(),
                          created.isoformat(), (loaded - timedelta(seconds=rng.randint(0, 40))).isoformat(sep=" ")])
    orders = []
    for oid in range(1, 181):
        od = date(2026, 9, 1) + timedelta(days=rng.randint(0, 82))
        orders.append([oid, rng.randint(1, 100), od.isoformat(), rng.choice(STATUSES),
                       (loaded + timedelta(seconds=rng.randint(0, 55))).isoformat(sep=" ")])
    payments = []
    pid = 1
    for o in orders:
        for _ in range(1 if rng.random() < 0.85 else 2):
            if pid > 200:
                break
            payments.append([pid, o[0], rng.choice(METHODS), rng.randint(5, 300) * 100 + rng.choice([0, 50, 99]),
                             (loaded + timedelta(seconds=60 + rng.randint(0, 50))).isoformat(sep=" ")])
            pid += 1
    for name, header, rows in [
        ("raw_customers", ["id", "first_name", "last_name", "email", "created_at", "_loaded_at"], customers),
        ("raw_orders", ["id", "customer_id", "order_date", "status", "_loaded_at"], orders),
        ("raw_payments", ["id", "order_id", "payment_method", "amount_cents", "_loaded_at"], payments),
    ]:
        with open(SEEDS / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)


if __name__ == "__main__":
    main()
