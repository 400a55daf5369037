"""What a Python integrator does with the client openapi-python-client generates from
openapi/openapi.json: follows a mint from `pending` to `confirmed`, reads its workflow while it
runs and its history, pages the workflow list to the end, reads /v1/stats, and clears a
webhook's filters with `null`.

tests/clients.rs runs it against a real server with the generated `mintflow_client` package on
PYTHONPATH, and with:
  MINTFLOW_URL    the server's base URL
  MINTFLOW_TOKEN  a bearer token that may do all of this (the admin token)
  RPC_URL         the server's anvil, which mines only when asked (so the mint is seen `sent`)
  PAYER           the payer of the mint (0x address)

Any failure raises, so the exit status is non-zero and the traceback says what differed.
"""

import importlib
import os
import pkgutil
import time

import httpx

import mintflow_client.api
from mintflow_client import AuthenticatedClient
from mintflow_client.models import MintBody, NewWebhook, WebhookChanges, WorkflowKind, WorkflowState
from mintflow_client.types import UNSET

DEADLINE_SECS = 60
POLL_SECS = 0.1
TERMINAL = {"completed", "failed", "cancelled"}


def operation(operation_id):
    """The generated module of an operation, found by its id: the generator files it under its
    tag, and tags are documentation that may be regrouped."""
    for info in pkgutil.iter_modules(mintflow_client.api.__path__):
        tag = importlib.import_module(f"mintflow_client.api.{info.name}")
        if any(m.name == operation_id for m in pkgutil.iter_modules(tag.__path__)):
            return importlib.import_module(f"{tag.__name__}.{operation_id}")
    raise AssertionError(f"the generated client has no operation {operation_id}")


def call(client, operation_id, **kwargs):
    """Calls an operation and returns its parsed answer, which must be a 2xx the spec declares
    (the generator parses only what the spec declares; anything else is None)."""
    response = operation(operation_id).sync_detailed(client=client, **kwargs)
    status = int(response.status_code)
    assert 200 <= status < 300 and response.parsed is not None, (
        f"{operation_id}: HTTP {status}: {response.content!r}"
    )
    return response.parsed


def text(value):
    """An enum's string, or the string itself: a field the spec types as a string may become
    an enum, and the flow should not care."""
    return getattr(value, "value", value)


def eventually(what, check):
    """Polls `check` until it returns something other than None, for at most DEADLINE_SECS."""
    deadline = time.monotonic() + DEADLINE_SECS
    while True:
        found = check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_SECS)


def mine_block(rpc_url):
    answer = httpx.post(
        rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": [1]}
    )
    answer.raise_for_status()
    assert "error" not in answer.json(), answer.text


def follow_a_mint(client, rpc_url, payer):
    accepted = call(client, "create_mint", body=MintBody(payer=payer))
    assert text(accepted.status) == "pending", accepted
    mint_id = str(accepted.id)

    def sent():
        mint = call(client, "get_mint", id=mint_id)
        return mint if text(mint.status) == "sent" else None

    eventually("the mint to be sent", sent)
    # Nothing is mined yet, so its workflow waits for the transaction: not ended.
    workflow = call(client, "get_workflow", id=mint_id)
    assert str(workflow.id) == mint_id
    assert text(workflow.kind) == "mint", workflow
    assert text(workflow.state) == "sent", workflow
    assert text(workflow.status) not in TERMINAL, workflow

    def confirmed():
        mine_block(rpc_url)
        mint = call(client, "get_mint", id=mint_id)
        return mint if text(mint.status) == "confirmed" else None

    eventually("the mint to be confirmed", confirmed)
    history = call(client, "get_workflow_history", id=mint_id)
    assert text(history.workflow.status) == "completed", history
    states = [text(e.to_state) for e in history.events]
    for state in ["pending", "sent", "confirmed"]:
        assert state in states, states
    return mint_id


def page_all_workflows(client):
    """Pages the list one workflow at a time until no cursor comes back: every workflow listed
    before is met once (newer ones, made meanwhile, are ahead of the first page)."""
    before = [str(w.id) for w in call(client, "list_workflows", limit=500).items]
    seen, cursor = [], UNSET
    while True:
        page = call(client, "list_workflows", limit=1, cursor=cursor)
        assert len(page.items) <= 1, page
        seen += [str(w.id) for w in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
        assert len(seen) < 1000, "the cursor never ends"
    assert len(seen) == len(set(seen)), f"a workflow came twice: {seen}"
    assert set(before) <= set(seen), (before, seen)
    return seen


def read_stats(client):
    stats = call(client, "stats")
    confirmed = [
        s for s in stats.workflows if text(s.kind) == "mint" and text(s.state) == "confirmed"
    ]
    assert confirmed and confirmed[0].count >= 1, stats


def clear_webhook_filters(client):
    created = call(
        client,
        "create_webhook",
        body=NewWebhook(
            url="http://127.0.0.1:9/hook",
            kinds=[WorkflowKind.MINT],
            states=[WorkflowState.CONFIRMED],
            description="python client",
        ),
    )
    assert created.kinds == [WorkflowKind.MINT] and created.description == "python client", created
    webhook_id = str(created.id)
    changed = call(
        client,
        "update_webhook",
        id=webhook_id,
        body=WebhookChanges(kinds=None, states=None, description=None),
    )
    assert changed.kinds is None and changed.states is None, changed
    assert changed.description is None, changed
    stored = call(client, "get_webhook", id=webhook_id)
    assert stored.kinds is None and stored.states is None and stored.description is None
    assert stored.url == "http://127.0.0.1:9/hook", stored


def main():
    client = AuthenticatedClient(
        base_url=os.environ["MINTFLOW_URL"],
        token=os.environ["MINTFLOW_TOKEN"],
        timeout=httpx.Timeout(30.0),
    )
    mint_id = follow_a_mint(client, os.environ["RPC_URL"], os.environ["PAYER"])
    assert mint_id in page_all_workflows(client)
    read_stats(client)
    clear_webhook_filters(client)
    print("python client flow: ok")


if __name__ == "__main__":
    main()
