"""Headless Chromium for the explorer's tests and scripts (Debian's chromium + chromium-driver, driven by Selenium).

:func:`chromium` returns a driver, or raises :class:`BrowserMissing` saying what is missing. It never downloads a
driver (Selenium Manager would try; this machine may be offline): the driver is the one on PATH.
"""

from __future__ import annotations

import shutil


class BrowserMissing(RuntimeError):
    pass


def chromium(width: int = 1280, height: int = 900):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserMissing("selenium is not installed (pip install 'kanlab[dev]')") from None
    driver_path = shutil.which("chromedriver")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if driver_path is None or browser is None:
        raise BrowserMissing("no headless browser: apt-get install chromium chromium-driver "
                             f"(chromedriver: {driver_path}, chromium: {browser})")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--disable-background-networking", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(driver_path), options=opts)
    except Exception as err:  # a driver that does not match the browser, a sandbox problem, ...
        raise BrowserMissing(f"chromium did not start: {str(err).splitlines()[0]}") from None


def click(driver, element) -> None:
    """A click dispatched to the element itself (SVG paths have no box Selenium can aim at reliably)."""
    driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", element)


def load_ms(driver) -> float:
    """The page's load time from the browser's own navigation timing (ms, until the load event ends)."""
    return float(driver.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd"))


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
