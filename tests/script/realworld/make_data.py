"""Writes the binary data files of ``data/`` (spreadsheets) that the real-world scripts read.

Run once after changing them: ``python -m tests.script.realworld.make_data``. Text data files are kept
as they are in ``data/``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from openpyxl import Workbook

DATA = Path(__file__).parent / "data"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def sales_budget() -> None:
    """Three budget sheets, one per year: Year, SalesPerson ID, Month, then one column per month."""
    wb = Workbook()
    wb.remove(wb.active)
    for year in (2003, 2004, 2005):
        ws = wb.create_sheet(f"Budget {year}")
        ws.append(["Year", "SalesPerson ID", "Month", *MONTHS])
        for person in (1, 2):
            ws.append([year, person, "All", *[100 * person + m for m in range(1, 13)]])
    wb.save(DATA / "Sales_Budget.xlsx")


def employees_offices() -> None:
    """The training course's EmpOff workbook: an Employee sheet and an Office sheet."""
    wb = Workbook()
    emp = wb.active
    emp.title = "Employee"
    emp.append(
        [
            "EmpID",
            "First Name",
            "Last Name",
            "Title",
            "Hire Date",
            "Office",
            "Extension",
            "Reports To",
            "Year Salary",
        ]
    )
    emp.append([1, "Leif", "Shine", "President", "1/15/1996", 1, 100, None, 90000])
    emp.append([2, "Rob", "Carsson", "Sales Manager", "3/1/1997", 1, 101, 1, 60000])
    emp.append([3, "Lennart", "Skoglund", "Sales Rep", "6/12/1999", 2, 201, 2, 45000])
    emp.append([4, "Helen", "Brolin", "Secretary", "9/9/2001", 2, 202, 1, 30000])
    office = wb.create_sheet("Office")
    office.append(
        [
            "Office",
            "OfficeAddress",
            "OfficePostalCode",
            "OfficeCity",
            "OfficeStateProvince",
            "OfficePhone",
            "OfficeFax",
            "OfficeCountry",
        ]
    )
    office.append([1, "Box 1", "223 63", "Lund", None, "046-15 00 00", "046-15 00 01", "Sweden"])
    office.append([2, "Main St 5", "10001", "New York", "NY", "212-555 0100", "212-555 0101", "USA"])
    wb.save(DATA / "EmpOff.xlsx")


def budget() -> None:
    """A budget sheet with a title line above the labels and the Office column filled only on the first
    row of each office (the script fills it down with a transformation filter)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Budget per office and employee"])
    ws.append(["Office", "EmployeeID", "2005", "2006", "2007", "2008", "2009"])
    for office, emp in ((1, 1), (None, 2), (2, 3), (None, 4)):
        ws.append([office, emp, *[emp * 1000 + (year - 2005) * 100 for year in range(2005, 2010)]])
    wb.save(DATA / "Budget.xlsx")


def link_table() -> None:
    """Sales and budget by year, month and customer, and the customer names, on three sheets."""
    wb = Workbook()
    sales = wb.active
    sales.title = "Sales"
    sales.append(["Year", "Month", "Customer Number", "Sales Amount"])
    for row in ((2012, 1, 1, 100), (2012, 1, 2, 150), (2012, 2, 1, 120), (2012, 3, 2, 80)):
        sales.append(list(row))
    budget = wb.create_sheet("Budget")
    budget.append(["Year", "Month", "Customer Number", "Budget Amount"])
    for row in ((2012, 1, 1, 110), (2012, 2, 1, 110), (2012, 3, 2, 90)):
        budget.append(list(row))
    customer = wb.create_sheet("Customer")
    customer.append(["Customer Number", "Customer Name"])
    customer.append([1, "Alpha"])
    customer.append([2, "Beta"])
    wb.save(DATA / "LinkTable.xlsx")


def master_calendar_html() -> None:
    """A published calendar page: one HTML table, a row per day of 1-14 April 2016, with UK and US
    financial-year columns (the UK year starts in April, the US one in October)."""
    cols = [
        "CalendarDate",
        "UK_Year_FY",
        "US_Year_FY",
        "Year_CY",
        "Month",
        "MonthName",
        "Day",
        "UK_Quarter_FY",
        "Quarter_CY",
        "UK_MonthNumber_FY",
        "MonthNumber_CY",
        "UK_QuarterName_FY",
        "QuarterName_CY",
        "UK_WeekYear_FY",
        "WeekYear_CY",
        "WeekDay",
        "w/e Date",
        "UK_Week Number_FY",
        "Week Number_CY",
        "WeekendFlag",
        "US_Quarter_FY",
        "US_MonthNumber_FY",
        "US_QuarterName_FY",
        "US_WeekYear_FY",
        "US_Week Number_FY",
    ]
    rows = []
    for n in range(14):
        d = datetime.date(2016, 4, 1) + datetime.timedelta(days=n)
        week_end = d + datetime.timedelta(days=6 - d.weekday())
        rows.append(
            [
                d.strftime("%d/%m/%Y"),
                "2016/17",
                "2015/16",
                "2016",
                "Apr",
                "Apr-2016",
                str(d.day),
                "Q1",
                "Q2",
                "1",
                "4",
                "Q1 2016/17",
                "Q2 2016",
                "2016/17-" + str(d.isocalendar()[1] - 12),
                f"2016-{d.isocalendar()[1]}",
                d.strftime("%a"),
                week_end.strftime("%d/%m/%Y"),
                str(d.isocalendar()[1] - 12),
                str(d.isocalendar()[1]),
                "1" if d.weekday() >= 5 else "0",
                "Q3",
                "7",
                "Q3 2015/16",
                "2015/16-" + str(d.isocalendar()[1] + 13),
                str(d.isocalendar()[1] + 13),
            ]
        )
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>\n" for r in rows)
    (DATA / "MasterCalendar.html").write_text(
        f"<html><body>\n<h1>Master calendar</h1>\n<table>\n<tr>{head}</tr>\n{body}</table>\n</body></html>\n"
    )


def expressions() -> None:
    """Measures kept in a workbook: title, variable prefix, expression, description."""
    wb = Workbook()
    ws = wb.active
    ws.title = "List"
    ws.append(["title", "variable", "expression", "description"])
    ws.append(["Credit", "vCredit", "Sum(Credit)", "Total credit"])
    ws.append(["Debit", "vDebit", "Sum(Debit)", "Total debit"])
    ws.append(["Balance", "vBalance", "Sum(Credit) - Sum(Debit)", "Credit less debit"])
    wb.save(DATA / "Expressions.xlsx")


def dental_budget() -> None:
    """A finance budget sheet: seven describing columns, then one column per period named 1..12."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Budget"
    ws.append(["ACCTID", "Account Name", "Type", "Level3", "Level2", "Level1", "FSCSYR", *range(1, 13)])
    ws.append(
        [
            100,
            "Rent Budget",
            "Exp",
            "Premises",
            "Overheads",
            "Expenses",
            2024,
            *[10 * p for p in range(1, 13)],
        ]
    )
    ws.append(
        [200, "Fees Budget", "Inc", "Fees", "Revenue", "Income", 2024, *[100 * p for p in range(1, 13)]]
    )
    wb.save(DATA / "Dental Budget FY_2026.xlsx")


def configs() -> None:
    """A global configuration workbook (servers, then connections per environment) and the app's
    local one; the local one sits where the global one's LocalConfig_DEV row points."""
    head = [
        "ServerName",
        "Environment",
        "ConnectionName",
        "ConnectionUniqueID",
        "ConnectionPath",
        "PrimaryDevOwner",
        "Notes",
    ]
    wb = Workbook()
    env = wb.active
    env.title = "Evnivornment_Setup"
    env.append(["ServerName", "Environment"])
    env.append(["QVSRV01", "DEV"])
    env.append(["QVSRV02", "PROD"])
    glob = wb.create_sheet("Global_Config")
    glob.append(head)
    glob.append(["QVSRV01", "DEV", "Local config", "LocalConfig_DEV", "lib://data/", "Adam", None])
    glob.append(["QVSRV01", "DEV", "QVD folder", "QVDPath_DEV", "lib://data/qvd/", "Adam", None])
    glob.append(["QVSRV02", "PROD", "QVD folder", "QVDPath_PROD", "lib://prod/qvd/", "Eve", "read only"])
    wb.save(DATA / "Global_Config.xlsx")
    wb = Workbook()
    loc = wb.active
    loc.title = "Local_Config"
    loc.append(head)
    loc.append(["QVSRV01", "DEV", "Gherkin ODBC", "Gherkin_DEV", "DSN=gherkin_dev", "Adam", None])
    loc.append(["QVSRV01", "DEV", "MCP ODBC", "MCP_DEV", "DSN=mcp_dev", "Adam", None])
    loc.append(["QVSRV01", "DEV", "Root", "RootPath_DEV", "lib://data/root/", "Adam", None])
    wb.save(DATA / "Jupiter_Config.xlsx")


def cartesian() -> None:
    """Monthly physical inventory counts: ProductID, Date (a date cell), Count; two products counted on
    the first and the last day of a month."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["ProductID", "Date", "Count"])
    for product, first, last in (("P-100", 240, 180), ("P-200", 75, 90)):
        ws.append([product, datetime.date(2019, 4, 1), first])
        ws.append([product, datetime.date(2019, 4, 30), last])
    for row in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        row[0].number_format = "m/d/yyyy"
    wb.save(DATA / "Cartesian.xlsx")


if __name__ == "__main__":
    cartesian()
    configs()
    dental_budget()
    expressions()
    master_calendar_html()
    link_table()
    sales_budget()
    employees_offices()
    budget()
