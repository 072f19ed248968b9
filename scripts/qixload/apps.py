"""The data the built-in scenarios load, and the dashboard's eight objects.

``SMALL_SCRIPT`` is the two-table script each ``full`` user loads into its own session app (as the old
runner did). ``star_schema_script`` generates a sales star schema (a fact table and calendar, product and
customer dimensions) for the ``dashboard`` scenario; it is loaded once into one app that every user opens,
which is how a published dashboard is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SMALL_SCRIPT = """
Orders:
Load RecNo() as OrderId, Mod(RecNo(), 200) as CustomerId,
     Pick(Mod(RecNo(), 4) + 1, 'North', 'South', 'East', 'West') as Region,
     Mod(RecNo() * 7, 1000) / 10 as Amount
AutoGenerate 20000;
Customers:
Load RecNo() - 1 as CustomerId, 'Customer ' & (RecNo() - 1) as Customer,
     Pick(Mod(RecNo(), 3) + 1, 'Gold', 'Silver', 'Bronze') as Tier
AutoGenerate 200;
"""
SMALL_FIELDS = ("Region", "Tier")
SMALL_MEASURE = "Sum(Amount)"

DASHBOARD_APP = "qixload-dashboard"  # the app id the dashboard scenario builds when no --app is given
PAGE = 50  # rows per table page


def star_schema_script(rows: int = 100_000, days: int = 730, products: int = 200, customers: int = 2_000) -> str:
    """A sales star schema: ``rows`` order lines over ``days`` days from 2024-01-01, with products in five
    categories and customers in four regions and three segments. Keys are spread with co-prime strides so
    every dimension value is used and selections leave a different slice each time."""
    return f"""
Calendar:
Load RecNo() - 1 as DateKey,
     Date(MakeDate(2024, 1, 1) + RecNo() - 1) as OrderDate,
     MonthName(MakeDate(2024, 1, 1) + RecNo() - 1) as Month,
     Year(MakeDate(2024, 1, 1) + RecNo() - 1) as Year
AutoGenerate {days};
Products:
Load RecNo() - 1 as ProductKey, 'Product ' & (RecNo() - 1) as Product,
     Pick(Mod(RecNo(), 5) + 1, 'Bikes', 'Clothing', 'Components', 'Accessories', 'Services') as Category
AutoGenerate {products};
Customers:
Load RecNo() - 1 as CustomerKey, 'Customer ' & (RecNo() - 1) as Customer,
     Pick(Mod(RecNo(), 4) + 1, 'North', 'South', 'East', 'West') as Region,
     Pick(Mod(RecNo(), 3) + 1, 'Consumer', 'Corporate', 'Public') as Segment
AutoGenerate {customers};
Sales:
Load RecNo() as OrderLine,
     Mod(RecNo() * 7919, {days}) as DateKey,
     Mod(Floor(RecNo() / 3) * 31, {products}) as ProductKey,
     Mod(RecNo() * 17, {customers}) as CustomerKey,
     Mod(RecNo() * 37, 500) / 10 + 1 as Sales,
     Mod(RecNo(), 9) + 1 as Quantity
AutoGenerate {rows};
"""


@dataclass(frozen=True)
class DashboardObject:
    """One chart of the dashboard: its session-object definition and whether it is a list object."""

    key: str
    definition: dict[str, Any]

    @property
    def is_list(self) -> bool:
        return "qListObjectDef" in self.definition

    @property
    def width(self) -> int:
        """Columns in a data page."""
        if self.is_list:
            return 1
        cube = self.definition["qHyperCubeDef"]
        return len(cube.get("qDimensions", ())) + len(cube.get("qMeasures", ()))

    @property
    def path(self) -> str:
        return "/qListObjectDef" if self.is_list else "/qHyperCubeDef"


def _cube(kind: str, key: str, dims: list[str], measures: list[str], sort_by_number: bool = False) -> DashboardObject:
    dimensions = []
    for field in dims:
        dim: dict[str, Any] = {"qDef": {"qFieldDefs": [field]}}
        if sort_by_number:
            dim["qDef"]["qSortCriterias"] = [{"qSortByNumeric": 1}]
        dimensions.append(dim)
    return DashboardObject(key, {
        "qInfo": {"qType": kind},
        "qHyperCubeDef": {"qDimensions": dimensions, "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
                          "qSuppressZero": True, "qInitialDataFetch": []},
    })


def _filter(key: str, field: str) -> DashboardObject:
    return DashboardObject(key, {
        "qInfo": {"qType": "filterpane"},
        "qListObjectDef": {"qDef": {"qFieldDefs": [field]}, "qShowAlternatives": True, "qInitialDataFetch": []},
    })


DASHBOARD: tuple[DashboardObject, ...] = (
    _cube("kpi", "kpi-sales", [], ["Sum(Sales)"]),
    _cube("kpi", "kpi-orders", [], ["Count(OrderLine)"]),
    _cube("barchart", "sales-by-category", ["Category"], ["Sum(Sales)"]),
    _cube("linechart", "sales-by-month", ["Month"], ["Sum(Sales)"], sort_by_number=True),
    _cube("table", "detail", ["Region", "Category", "Product"], ["Sum(Sales)", "Sum(Quantity)"]),
    _filter("filter-region", "Region"),
    _filter("filter-category", "Category"),
    _filter("filter-month", "Month"),
)
DASHBOARD_FIELDS = ("OrderLine", "Sales", "Quantity", "Category", "Month", "Region", "Product")
