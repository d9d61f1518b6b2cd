"""The dashboard in headless Chromium, driven by Playwright, against a running gateway.

Usage: python3 dashboard.py BASE_URL MASTER_KEY VIRTUAL_KEY VIRTUAL_WORD SHOTS_DIR CHROMIUM
Prints one `ok <check>` line per check and exits non-zero at the first failure. Saves a
screenshot of every page into SHOTS_DIR.
"""
import json
import sys
import time
import urllib.request
import uuid

from playwright.sync_api import expect, sync_playwright

base, master, vkey, vword, shots, chromium = sys.argv[1:7]
expect.set_options(timeout=15_000)


def post(path, body, key):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(req) as r:
        return r.headers.get("x-switchyard-job-id"), json.loads(r.read())


def login(page, key):
    page.goto(base + "/ui")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login-key", key)
    page.click("#login button[type=submit]")
    expect(page.locator("#requests")).to_be_visible()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Refusals the test provokes (403, 404) log "Failed to load resource"; anything else is a bug.
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource") and errors.append(m.text))

    # Log in; the key is in an HttpOnly cookie, never in the URL or in reach of scripts.
    login(page, master)
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "sy_key"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict", cookies
    assert master not in page.url
    assert page.evaluate("document.cookie").find("sy_key") < 0
    print("ok login")

    # A request made now shows up in the table without a reload.
    word = "dash" + uuid.uuid4().hex[:10]
    job, _ = post("/v1/chat/completions", {"model": "mock/echo", "messages": [{"role": "user", "content": f"hello {word}"}]}, master)
    expect(page.locator(f'#rows tr[data-id="{job}"]')).to_be_visible()
    page.screenshot(path=f"{shots}/requests.png")
    print("ok live")

    # Full-text search finds it; a filter that excludes it hides it.
    page.fill("input[name=q]", word)
    page.click("#filters button[type=submit]")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator(f'#rows tr[data-id="{job}"]')).to_be_visible()
    page.select_option("select[name=status]", "failed")
    page.click("#filters button[type=submit]")
    expect(page.locator("#status")).to_contain_text("No requests match")
    assert "q=" + word in page.url and master not in page.url
    print("ok filter and search")

    # Its page: the waterfall, the conversation, the raw JSON.
    page.goto(base + f"/ui/requests/{job}")
    expect(page.locator("#waterfall")).to_contain_text("received")
    expect(page.locator("#waterfall")).to_contain_text("completed")
    expect(page.locator("#waterfall")).to_contain_text("attempt 1 on mock/echo")
    expect(page.locator(".conversation").first).to_contain_text(f"echo: hello {word}")
    expect(page.locator("#facts")).to_contain_text("trace id")
    page.screenshot(path=f"{shots}/request.png", full_page=True)
    page.click("#raw-toggle")
    expect(page.locator("#raw")).to_contain_text('"messages"')
    print("ok waterfall")

    # Replay on another model: both answers side by side, linked both ways.
    page.fill("#replay-model", "fast")
    page.click("#replay")
    expect(page.locator("#side-by-side")).to_contain_text("Replay · fast")
    expect(page.locator("#side-by-side")).to_contain_text(f"echo: hello {word}")
    new_id = page.locator("#replay-link").inner_text()
    page.screenshot(path=f"{shots}/replay.png", full_page=True)
    page.click("#replay-link")
    expect(page.locator("#facts")).to_contain_text("replay of")
    expect(page.locator("#facts a", has_text=job)).to_be_visible()
    for _ in range(50):
        page.goto(base + f"/ui/requests/{job}")
        if page.locator("#facts a", has_text=new_id).count():
            break
        time.sleep(0.2)
    expect(page.locator("#facts a", has_text=new_id)).to_be_visible()
    print("ok replay")

    # Overview, Providers, Keys.
    page.click("nav a[data-page=overview]")
    expect(page.locator("#charts canvas").first).to_be_visible()
    expect(page.locator(".tables")).to_contain_text("mock/echo")
    page.screenshot(path=f"{shots}/overview.png", full_page=True)
    page.click("#by-model")
    expect(page.locator("#charts")).to_contain_text("Requests per second by model")
    expect(page.locator("#charts")).to_contain_text("mock/echo")
    print("ok overview")
    page.click("nav a[data-page=providers]")
    expect(page.locator("#providers")).to_contain_text("mock")
    expect(page.locator("#nodes tbody tr").first).to_be_visible()
    page.screenshot(path=f"{shots}/providers.png", full_page=True)
    print("ok providers")
    page.click("nav a[data-page=keys]")
    expect(page.locator("#keys")).to_be_visible()
    page.fill("#create-key input[name=name]", "from-the-browser")
    page.fill("#create-key input[name=rpm]", "30")
    page.click("#create-key button[type=submit]")
    expect(page.locator("#new-secret")).to_contain_text("sy-")
    expect(page.locator("#keys")).to_contain_text("from-the-browser")
    page.screenshot(path=f"{shots}/keys.png", full_page=True)
    print("ok keys")

    # Cache: a purge from the browser.
    page.click("nav a[data-page=cache]")
    page.fill("#purge input[name=key]", "master")
    page.click("#purge button[type=submit]")
    expect(page.locator("#purge-out")).to_contain_text("Purged")
    page.screenshot(path=f"{shots}/cache.png")
    print("ok cache")

    # Bulk replay of failures in the window, with progress.
    post("/v1/jobs", {"model": "mock/error-500", "messages": [{"role": "user", "content": "bulk"}]}, master)
    page.goto(base + "/ui?status=failed&since=1h")
    expect(page.locator("#rows tr").first).to_be_visible()
    page.click("#bulk-replay")
    expect(page.locator(".bulk")).to_contain_text("of 1 replayed")
    print("ok bulk replay")

    # A change sent with the session cookie but without the dashboard's header is refused.
    status = page.evaluate("""async () => (await fetch('/admin/keys', {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"name":"csrf"}'})).status""")
    assert status == 403, status
    print("ok csrf")

    # A virtual key sees its own requests only.
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    login(page, vkey)
    expect(page.locator("#rows tr").first).to_contain_text("mock/echo")
    rows = page.locator("#rows tr")
    texts = " ".join(rows.all_inner_texts())
    assert job not in page.content(), "the virtual key sees the master's request"
    page.fill("input[name=q]", vword)
    page.click("#filters button[type=submit]")
    expect(page.locator("#rows tr")).to_have_count(1)
    page.fill("input[name=q]", word)
    page.click("#filters button[type=submit]")
    expect(page.locator("#status")).to_contain_text("No requests match")
    page.goto(base + f"/ui/requests/{job}")
    expect(page.locator("main")).to_contain_text("No request")
    page.screenshot(path=f"{shots}/virtual-key.png")
    print("ok scopes")

    assert not errors, errors
    print("ok no script errors")
    browser.close()
