"""How fast the dashboard's pages load in headless Chromium: navigation to the requests
table's first row, the Overview's charts, and one request's waterfall; median of RUNS loads
each, with the same browser's time for GET /health beside them as the reference.

Usage: python3 bench/uiload.py BASE_URL [CHROMIUM] [RUNS]   (an open gateway, or set
SWITCHYARD_MASTER_KEY to log in first)
"""
import os
import statistics
import sys
import time

from playwright.sync_api import sync_playwright

base = sys.argv[1].rstrip("/")
chromium = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/chromium"
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5


def timed(page, url, selector):
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(selector, timeout=30_000)
    return (time.perf_counter() - t0) * 1000


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    key = os.environ.get("SWITCHYARD_MASTER_KEY")
    if key:
        page.goto(base + "/ui")
        page.fill("#login-key", key)
        page.click("#login button[type=submit]")
        page.wait_for_selector("#requests")
    first = timed(page, base + "/ui", "#rows tr")
    job = page.locator("#rows tr").first.get_attribute("data-id")
    results = {}
    for name, url, sel in [
        ("GET /health (reference)", base + "/health", "body"),
        ("Requests: first row", base + "/ui", "#rows tr"),
        ("Requests, status=failed: first row", base + "/ui?status=failed&since=30d", "#rows tr"),
        ("Overview (24 h): charts", base + "/ui/overview", "#charts canvas"),
        ("Request: waterfall", base + f"/ui/requests/{job}", "#waterfall .wf-row"),
    ]:
        results[name] = [timed(page, url, sel) for _ in range(runs)]
    print(f"dashboard load, median of {runs} (first load {first:.0f} ms):")
    for name, xs in results.items():
        print(f"  {name:40s} {statistics.median(xs):7.1f} ms  (min {min(xs):.1f}, max {max(xs):.1f})")
    browser.close()
