"""``UpdateInsightsWorkbook``: refresh the data snapshots of an Insights workbook, report or
page item (best-effort: the upstream protocol is unknown).

ArcGIS Insights' scheduled updates re-run a shared page's analysis on fresh data; how the
portal asks Insights to do it is not public (reference task-types.md §3: UNCONFIRMED). gistasks
therefore defines its own, self-contained refresh, on an item of its own content:

The task's ``itemId`` is an ``Insights Workbook``, ``Insights Report`` or ``Insights Page``
item of the task's owner (or one the owner, an org admin, may act on). Its data is a JSON
object; gistasks reads and writes its ``datasets`` and keeps every other key as it is::

    {"datasets": [
        {"name": "Parcels",
         "url": "https://host/server/rest/services/Parcels/FeatureServer/0",
         "query": {"where": "1=1", "outFields": "*"},
         "snapshot": {"refreshed": 1767225600000, "features": [...], "fields": [...], ...}},
        {"name": "Budget.xlsx", "source": "file"},
        {"name": "Forecast card", "source": "script"}]}

On each fire:

* each dataset with a feature layer ``url`` (https, ending in ``/FeatureServer/<n>`` or
  ``/MapServer/<n>``; ``source`` absent or ``featureLayer``) is queried anew, ``POST
  <url>/query`` with its recorded ``query`` (default ``where=1=1&outFields=*``; values that are
  not text sent as JSON; ``f=json`` set by gistasks; a ``token`` or ``f`` of the item's query
  is dropped),
  the pages followed with ``resultOffset`` while the layer says ``exceededTransferLimit``
  (unless the query sets its own ``resultOffset`` or ``resultRecordCount``), at most
  ``MAX_DATASET_BYTES`` of answers per dataset. Its ``snapshot`` becomes the layer's answer
  (``features`` of every page, ``fields``, ``geometryType`` …) with ``refreshed``, the time of
  the refresh in epoch milliseconds;
* datasets whose ``source`` is ``file`` (uploaded files: Excel, shapefiles …) or ``script``
  (cards of the scripting environment) are skipped and counted, as Insights does;
* any other dataset, a query that fails or answers an error, or a stopped run fails the run,
  naming the dataset: the item is then left as it was (all datasets or none);
* the item's data is written back once, whole (``ItemAccess.replace_data``).

The run records ``succeeded`` with ``Updated N datasets; skipped M (uploaded files or
scripts)`` and, as its ``url``, the item's (``<public URL>/sharing/rest/content/items/<id>``,
when the deployment has a public URL); otherwise ``failed`` with the reason. A server that
binds no portal items (``Deployment.items`` is None) fails every run saying so.

The parameters: none, or how to sign in to the services the datasets live on: ``token``, or
``portalUrl`` with ``username`` and ``password`` (see ``tasktypes.remote``). The token is sent,
in the ``X-Esri-Authorization`` header, to every dataset's URL: the item's data is written
only by its owner and the org's admins. Any other key is refused.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gistasks import jsonsafe
from gistasks.jsonsafe import JsonError
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext
from gistasks.tasktypes.remote import (
    AUTH_KEYS,
    Credentials,
    Remote,
    RemoteTaskType,
    auth_parameters,
    error_text,
    form_text,
    https_url,
    only,
    parse,
    read,
    run_remote,
    shown,
)

ITEM_TYPES = ("Insights Workbook", "Insights Report", "Insights Page")
SKIPPED_SOURCES = ("file", "script")
LAYER_SOURCE = "featureLayer"
LAYER_PATH = re.compile(r"/(FeatureServer|MapServer)/[0-9]{1,9}$", re.I)
DEFAULT_QUERY = {"where": "1=1", "outFields": "*"}
SET_BY_GISTASKS = ("f", "token")
"""Query keys that the item's data cannot set."""
MAX_ITEM_BYTES = 64 * 1024 * 1024
"""The largest item data read."""
MAX_DATASET_BYTES = 32 * 1024 * 1024
"""The most answer bytes read for one dataset, every page counted."""
MAX_PAGES = 1000


class DatasetError(Exception):
    """A dataset that cannot be refreshed; the message names it."""


@dataclass(frozen=True)
class Dataset:
    """A dataset to refresh: its place in ``datasets``, its name, layer and query."""

    index: int
    name: str
    url: str
    query: dict[str, Any]


def _plan(data: Any) -> tuple[list[Dataset], int]:
    """The datasets to refresh and how many are skipped; DatasetError for a dataset that is
    neither."""
    datasets = data.get("datasets", []) if isinstance(data, dict) else None
    if not isinstance(datasets, list):
        raise DatasetError("the item's data is not an object with a list of 'datasets'")
    plan, skipped = [], 0
    for i, dataset in enumerate(datasets):
        if not isinstance(dataset, dict):
            raise DatasetError(f"datasets[{i}] is not an object")
        name = dataset.get("name")
        label = f"dataset {name!r}" if isinstance(name, str) and name else f"datasets[{i}]"
        source = dataset.get("source")
        if source in SKIPPED_SOURCES:
            skipped += 1
            continue
        if source not in (None, LAYER_SOURCE) or dataset.get("url") in (None, ""):
            raise DatasetError(f"{label} has no feature layer 'url' and its 'source' is not "
                               f"one of {', '.join(SKIPPED_SOURCES)} ({shown(source)})")
        try:
            url = https_url(dataset["url"], "url")
        except ValueError as exc:
            raise DatasetError(f"{label}: {exc}") from None
        if not LAYER_PATH.search(urlsplit(url).path):
            raise DatasetError(f"{label}: 'url' must be a layer of a feature or map service "
                               f"(…/FeatureServer/<n>), not {shown(url)}")
        query = dataset.get("query", DEFAULT_QUERY)
        if not isinstance(query, dict):
            raise DatasetError(f"{label}: 'query' must be an object")
        query = {k: v for k, v in query.items() if k not in SET_BY_GISTASKS}
        plan.append(Dataset(i, label, url, query))
    return plan, skipped


def _query(remote: Remote, dataset: Dataset, ctx: RunContext) -> dict[str, Any]:
    """The layer's answer to the dataset's query, every page's features in it; DatasetError
    naming the dataset."""
    import httpx

    form = {k: form_text(v) for k, v in dataset.query.items()}
    form["f"] = "json"
    paged = not {"resultOffset", "resultRecordCount"} & dataset.query.keys()
    snapshot: dict[str, Any] = {}
    features: list[Any] = []
    budget = MAX_DATASET_BYTES
    for _ in range(MAX_PAGES):
        if ctx.cancelled.is_set():
            raise DatasetError("the run was stopped")
        if features:
            form["resultOffset"] = str(len(features))
        try:
            status, data = read(remote.client, "POST", f"{dataset.url}/query", data=form)
            budget -= len(data)
            if budget < 0:
                raise DatasetError(f"{dataset.name}: its answers are larger than "
                                   f"{MAX_DATASET_BYTES >> 20} MB")
            page = parse(data)
        except (httpx.HTTPError, JsonError) as exc:
            raise DatasetError(f"the query of {dataset.name} at {dataset.url} failed: "
                               f"{exc}") from None
        if status >= 400 or not isinstance(page, dict) or "error" in page:
            raise DatasetError(f"the query of {dataset.name} at {dataset.url} was refused "
                               f"(HTTP {status}): {error_text(page, 500)}")
        found = page.get("features")
        if found is None:
            if not {"count", "objectIds"} & page.keys():
                raise DatasetError(f"the answer to the query of {dataset.name} has no "
                                   f"features: {error_text(page, 200)}")
            return page
        if not isinstance(found, list):
            raise DatasetError(f"the answer to the query of {dataset.name} has no list of "
                               f"features")
        snapshot = snapshot or page
        features.extend(found)
        if not (paged and page.get("exceededTransferLimit") is True and found):
            snapshot = {k: v for k, v in snapshot.items() if k != "exceededTransferLimit"}
            if page.get("exceededTransferLimit") is True:
                snapshot["exceededTransferLimit"] = True
            return {**snapshot, "features": features}
    raise DatasetError(f"{dataset.name} has more than {MAX_PAGES} pages of features")


class UpdateInsightsWorkbook(RemoteTaskType):
    name = "UpdateInsightsWorkbook"
    needs_item = True
    idempotent = True
    time_limit_s = 3600.0

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The sign-in parameters, if any; ValueError naming a bad or unknown one."""
        only(parameters, AUTH_KEYS, self.name)
        return auth_parameters(parameters)

    def run(self, ctx: RunContext, p: dict[str, Any]) -> Outcome:
        items = self.deployment.items
        if items is None:
            return Outcome(RunStatus.FAILED, "this server offers no portal items to the task "
                           "types, so no Insights item can be updated")
        item_id = ctx.item_id or ""
        public = self.deployment.public_url.rstrip("/")
        item_url = f"{public}/sharing/rest/content/items/{item_id}" if public else ""
        try:
            info = items.info(ctx.owner, item_id)
            raw = items.data(ctx.owner, item_id, MAX_ITEM_BYTES)
        except ValueError as exc:
            return Outcome(RunStatus.FAILED, str(exc), item_url)
        except LookupError:
            return Outcome(RunStatus.FAILED, f"the item {item_id!r} does not exist", item_url)
        except PermissionError:
            return Outcome(RunStatus.FAILED, f"{ctx.owner} may not update the item "
                           f"{item_id!r}", item_url)
        if info.get("type") not in ITEM_TYPES:
            return Outcome(RunStatus.FAILED, f"the item {item_id!r} is a {info.get('type')!r}, "
                           f"not an {', '.join(ITEM_TYPES)} item", item_url)
        try:
            if len(raw) > MAX_ITEM_BYTES:
                raise JsonError(f"it is larger than {MAX_ITEM_BYTES >> 20} MB")
            data = jsonsafe.loads(raw.decode("utf-8"), MAX_ITEM_BYTES)
            plan, skipped = _plan(data)
        except (UnicodeDecodeError, JsonError) as exc:
            return Outcome(RunStatus.FAILED, f"the item's data is not JSON: {exc}", item_url)
        except DatasetError as exc:
            return Outcome(RunStatus.FAILED, f"{exc}; the item was not changed", item_url)

        def refresh(remote: Remote) -> Outcome:
            snapshots: dict[int, dict[str, Any]] = {}
            try:
                for dataset in plan:
                    snapshots[dataset.index] = _query(remote, dataset, ctx)
            except DatasetError as exc:
                return Outcome(RunStatus.FAILED, f"{exc}; the item was not changed", item_url)
            refreshed = int(time.time() * 1000)
            for index, snapshot in snapshots.items():
                data["datasets"][index]["snapshot"] = {**snapshot, "refreshed": refreshed}
            if snapshots:
                try:
                    items.replace_data(ctx.owner, item_id, jsonsafe.dumps(data).encode(),
                                       if_modified=info.get("modified"))
                except (LookupError, PermissionError, OSError, ValueError) as exc:
                    return Outcome(RunStatus.FAILED, f"the item could not be written: {exc}",
                                   item_url)
            return Outcome(RunStatus.SUCCEEDED, f"Updated {len(snapshots)} datasets; skipped "
                           f"{skipped} (uploaded files or scripts)", item_url)

        if not plan:  # nothing to query, nothing to write
            return Outcome(RunStatus.SUCCEEDED, f"Updated 0 datasets; skipped {skipped} "
                           "(uploaded files or scripts)", item_url)
        return run_remote(Credentials.of(p), refresh)
