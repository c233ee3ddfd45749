"""Issue 10, carrier I/O: logistics owns every carrier call through one adapter registry and its own jobs; orders
only decides how the order follows its parcel. Imports flow one way (orders → logistics), none inside a function
body, and no service imports a job module. Checked on the source, like a reviewer reading the import graph."""

import ast
from pathlib import Path

import django_rq
import pytest

from logistics.carriers import ADAPTERS, Adapter, adapter_for, adapter_names
from logistics.models import Carrier, Shipment
from logistics.services import shipment_register, shipments_poll_due
from tests.logistics.parcels import printed

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether inside a function body) for every import of one file."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, in_function))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


def _project(module: str) -> bool:
    return module.split(".")[0] in {"config", "orders", "logistics", "warehouse", "rules", "reports"}


def test_logistics_never_imports_orders_services_jobs_or_api():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "logistics").rglob("*.py"))
        if "migrations" not in path.parts
        for module, _inside in _imports(path)
        if module.startswith(("orders.services", "orders.jobs", "orders.api"))
    ]
    assert offenders == []  # old code: logistics/api.py imported orders.services.tracking


@pytest.mark.parametrize(
    "files",
    [
        sorted(p for p in (ROOT / "logistics").rglob("*.py") if "migrations" not in p.parts),
        [ROOT / "orders/services/tracking.py", ROOT / "orders/services/parcels.py"],
    ],
    ids=["logistics", "orders-tracking"],
)
def test_carrier_code_has_no_project_import_inside_a_function_body(files):
    inside = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in files
        for module, in_function in _imports(path)
        if in_function and _project(module)
    ]
    assert inside == []


def test_no_service_of_the_carrier_slice_imports_a_job_module_and_parcels_not_the_lifecycle():
    # (orders' allocation still enqueues its own job by import: the lifecycle slice of issue 10 owns that)
    services = [
        ROOT / "logistics/services.py",
        ROOT / "orders/services/tracking.py",
        ROOT / "orders/services/parcels.py",
    ]
    jobs = [f"{p.relative_to(ROOT)}: {m}" for p in services for m, _ in _imports(p) if m.endswith(".jobs")]
    assert jobs == []
    parcels = {module for module, _ in _imports(ROOT / "orders/services/parcels.py")}
    assert not parcels & {"orders.services.transitions", "orders.services.lifecycle", "orders.services.tracking"}


def test_adapter_registry_has_one_adapter_module_per_carrier_choice():
    assert set(ADAPTERS) == set(Carrier.Adapter.values)
    for name, adapter in ADAPTERS.items():
        assert isinstance(adapter, Adapter)
        assert type(adapter).__module__ == f"logistics.carriers.{name}"
    assert adapter_names(polls=True) == ["kuaidi100"]
    assert sorted(adapter_names(pushes=True)) == ["generic", "kuaidi100"]
    assert adapter_for("no-such-adapter") is ADAPTERS["manual"]  # nothing asked of an unknown feed


@pytest.mark.usefixtures("stocked")
def test_shipments_poll_due_enqueues_the_logistics_poll_job_by_name(django_capture_on_commit_callbacks):
    carrier = Carrier.objects.create(
        code="zto", name="中通", adapter="kuaidi100", api_base_url="http://127.0.0.1:9/", callback_secret="salt"
    )
    printed(carrier, number="ZT1000000001")
    Carrier.objects.create(code="deppon", name="德邦", adapter="generic", callback_secret="s3cret")
    queue = django_rq.get_queue("carriers")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        assert shipments_poll_due() == 1
    [job] = queue.get_jobs()
    assert job.func_name == "logistics.jobs.poll_parcel" and job.kwargs == {"shipment_id": Shipment.objects.get().pk}
    queue.empty()


@pytest.mark.usefixtures("stocked")
def test_shipment_register_any_new_kuaidi100_parcel_is_subscribed_by_logistics(django_capture_on_commit_callbacks):
    # given: a printed order of a Kuaidi100 carrier (its first parcel was subscribed when the label printed)
    carrier = Carrier.objects.create(
        code="zto", name="中通", adapter="kuaidi100", api_base_url="http://127.0.0.1:9/", callback_secret="salt"
    )
    order = printed(carrier, number="ZT1000000001")
    queue = django_rq.get_queue("carriers")
    queue.empty()
    # when: customer service registers a second parcel of the order by hand
    with django_capture_on_commit_callbacks(execute=True):
        second = shipment_register(
            order=order, carrier=carrier, tracking_number="zt 1000 0000 02", source="manual", parcel_index=2
        )
    # then: logistics asks for its pushes too (before, only the label's own parcel was subscribed)
    [job] = queue.get_jobs()
    assert job.func_name == "logistics.jobs.subscribe_parcel" and job.kwargs == {"shipment_id": second.pk}
    queue.empty()
