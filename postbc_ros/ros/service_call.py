"""Services from inside a spinning node. `call_service`: wait for the server, send, and wait for the
answer on a threading.Event (the node's executor delivers the response in another thread); a server
that does not appear or does not answer in time is a TimeoutError naming the service. `serve`: a
Trigger/SetBool-like service whose answer is a function of the request -> (success, message)."""
from __future__ import annotations

import threading


def call_service(client, request, timeout: float, wait_for: float | None = None):
    """Response of `client` to `request`; waits at most `wait_for` s (default `timeout`) for the server."""
    if not client.wait_for_service(timeout_sec=timeout if wait_for is None else min(timeout, wait_for)):
        raise TimeoutError(f"service {client.srv_name} not available")
    fut = client.call_async(request)
    done = threading.Event()
    fut.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout):
        raise TimeoutError(f"service {client.srv_name} did not answer within {timeout:.0f} s")
    return fut.result()


def serve(node, srv_type, name: str, answer, callback_group=None):
    """Create service `name` answering with `answer(request) -> (success, message)`."""
    def callback(request, response):
        response.success, response.message = answer(request)
        return response
    return node.create_service(srv_type, name, callback, callback_group=callback_group)
