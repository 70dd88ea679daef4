// Drives the rayo console in Debian's Chromium with playwright-core, for the
// end-to-end tests (tests/e2e/console.rs) and the list benchmark
// (bench/console-list.sh). Usage:
//   node console.cjs SCENARIO BASE_URL SCREENSHOT_DIR [JSON_OPTIONS]
// Every check throws on failure; the last line on stdout is a JSON object
// of what was seen, for the caller to assert on.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const [scenario, baseUrl, shotDir, optionsJson] = process.argv.slice(2);
const options = optionsJson ? JSON.parse(optionsJson) : {};
const TIMEOUT = 60_000;
const seen = {};

function check(condition, message) {
  if (!condition) throw new Error('check failed: ' + message);
}

// Waits until `predicate` holds in the page. Each check is one
// page.evaluate, which the page's Content-Security-Policy does not govern;
// page.waitForFunction polls by evaluating the predicate's text inside the
// page, which that policy (no 'unsafe-eval') refuses.
async function until(page, predicate, arg, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  while (!(await page.evaluate(predicate, arg))) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + predicate);
    await page.waitForTimeout(50);
  }
}

async function shot(page, name) {
  fs.mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: path.join(shotDir, `${scenario}-${name}.png`), fullPage: true });
}

async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.RAYO_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  // The console loads nothing from anywhere but rayo.
  const base = new URL(baseUrl);
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol !== 'data:' && url.host !== base.host) {
      seen.foreignRequests = [...(seen.foreignRequests || []), request.url()];
    }
  });
  page.on('pageerror', (error) => {
    seen.pageErrors = [...(seen.pageErrors || []), String(error)];
  });
  return { browser, page };
}

async function setEditorText(page, text) {
  const content = page.locator('.cm-content');
  await content.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

const scenarios = {
  // Create a function from the starter, edit and save its code, save and run
  // a test event, read the result and the REPORT summary, search the logs.
  async main(page) {
    const name = options.name;
    await page.goto(baseUrl + '/_rayo/');
    check(page.url().endsWith('/_rayo/console/'), 'redirected to the console: ' + page.url());
    await page.getByRole('heading', { name: /Functions/ }).waitFor();
    await shot(page, '01-empty-list');
    await page.getByRole('link', { name: 'Create function' }).click();
    await page.getByLabel('Function name').fill(name);
    // The runtimes arrive from the server after the page renders.
    await page.locator('#fn-runtime option').first().waitFor({ state: 'attached' });
    const runtimes = await page.locator('#fn-runtime option').allTextContents();
    seen.runtimes = runtimes;
    await shot(page, '02-create');
    await page.getByRole('button', { name: 'Create function' }).click();
    await page.waitForURL(/#\/functions\/.*\/code$/);
    await page.locator('.cm-content').waitFor();
    await page.getByText('def lambda_handler').waitFor();
    await shot(page, '03-code-starter');
    await setEditorText(page, options.code);
    await page.locator('#save-code').click();
    await page.getByText('Saved:').waitFor();
    seen.saved = true;
    await shot(page, '04-code-saved');

    await page.getByRole('tab', { name: 'Test' }).click();
    await page.getByLabel('Event name').waitFor();
    await page.getByLabel('Template').selectOption('apigateway-http-v2');
    await page.getByRole('button', { name: 'Use template' }).click();
    check((await page.getByLabel('Event JSON').inputValue()).includes('"routeKey"'), 'the API Gateway template is in the editor');
    await page.getByLabel('Event JSON').fill(JSON.stringify(options.event, null, 2));
    await page.getByLabel('Event name').fill(options.eventName);
    await page.locator('#save-event').click();
    await page.getByText(`Saved the test event ${options.eventName}.`).waitFor();
    await page.locator('#run-test').click();
    await page.locator('#test-result').waitFor();
    seen.resultHeading = await page.locator('#test-result h2').first().textContent();
    seen.response = await page.locator('#test-response').textContent();
    seen.log = await page.locator('#test-log').textContent();
    const summary = {};
    for (const row of await page.locator('#test-summary > div').all()) {
      summary[await row.locator('dt').textContent()] = await row.locator('dd').textContent();
    }
    seen.summary = summary;
    await shot(page, '05-test-result');

    // The saved event is the server's: it is there after a reload.
    await page.reload();
    await page.getByLabel(/Saved events/).waitFor();
    await until(page, () => document.querySelectorAll('#saved-events option').length > 1);
    seen.savedEvents = await page.locator('#saved-events option').allTextContents();
    await page.getByLabel(/Saved events/).selectOption(options.eventName);
    seen.reloadedEvent = JSON.parse(await page.getByLabel('Event JSON').inputValue());

    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.getByLabel('Filter pattern').fill(options.logNeedle);
    // Log events are committed shortly after the invocation: search until found.
    for (let i = 0; i < 100; i++) {
      await page.locator('#log-search').click();
      await page.waitForTimeout(100);
      if ((await page.locator('#log-events tbody tr').count()) > 0) break;
    }
    seen.logMatches = await page.locator('#log-events tbody tr td pre').allTextContents();
    await page.getByRole('button', { name: 'Refresh streams' }).click();
    await page.locator('.streams li').nth(1).waitFor();
    seen.streams = await page.locator('.streams li button').allTextContents();
    await shot(page, '06-logs-search');

    await page.getByRole('tab', { name: 'Configuration' }).click();
    await page.getByRole('heading', { name: 'Triggers' }).waitFor();
    await page.getByLabel('Memory (MB)').fill('256');
    await page.getByRole('button', { name: 'Add variable' }).click();
    await page.getByLabel('Key of variable 1').fill('GREETING');
    await page.getByLabel('Value of variable 1').fill('hola');
    await page.locator('#save-config').click();
    await page.getByText('Configuration saved.').waitFor();
    await page.getByText('No triggers.').waitFor();
    await page.getByLabel('Kind').selectOption('url');
    await page.getByRole('button', { name: 'Add trigger' }).click();
    const urlLink = page.locator('.trigger-list li', { hasText: 'Function URL' }).locator('a');
    await urlLink.waitFor();
    seen.functionUrl = await urlLink.getAttribute('href');
    await page.getByLabel('Kind').selectOption('schedule');
    await page.getByLabel('Schedule expression').fill('rate(1 day)');
    await page.getByRole('button', { name: 'Add trigger' }).click();
    await page.locator('.trigger-list li', { hasText: 'Schedule' }).waitFor();
    await page.getByLabel('Kind').selectOption('s3');
    await page.getByLabel('Bucket', { exact: true }).selectOption(options.triggerBucket);
    await page.getByLabel('Event types').selectOption('s3:ObjectCreated:*');
    await page.getByLabel('Prefix (optional)').fill('incoming/');
    await page.getByRole('button', { name: 'Add trigger' }).click();
    await page.locator('.trigger-list li', { hasText: options.triggerBucket }).waitFor();
    seen.triggers = await page.locator('.trigger-list li').allTextContents();
    await shot(page, '07-configuration');

    await page.goto(baseUrl + '/_rayo/console/#/');
    await page.getByRole('link', { name }).waitFor();
    seen.listRow = await page.locator('table.functions tbody tr').first().locator('th, td').allTextContents();
    await shot(page, '08-list');
  },

  // Create functions from a .zip upload and from a bucket object; the Code
  // tab shows each package's files.
  async sources(page) {
    const create = async (name, pick) => {
      await page.goto(baseUrl + '/_rayo/console/#/create');
      await page.getByLabel('Function name').fill(name);
      await page.getByLabel('Handler', { exact: true }).fill('app.handler');
      await pick();
      await page.getByRole('button', { name: 'Create function' }).click();
      await page.waitForURL(/#\/functions\/.*\/code$/);
      await page.locator('.cm-content').waitFor();
      return {
        files: await page.locator('.files button.file').allTextContents(),
        text: await page.locator('.cm-content').textContent(),
      };
    };
    seen.zip = await create('from-zip', async () => {
      await page.getByLabel('Upload a .zip file').check();
      await page.getByLabel('Deployment package (.zip)').setInputFiles(options.zipPath);
    });
    await shot(page, '01-from-zip');
    seen.bucket = await create('from-bucket', async () => {
      await page.getByLabel('From a bucket object (S3Bucket/S3Key)').check();
      await page.getByLabel('Bucket (S3Bucket)').fill(options.bucket);
      await page.getByLabel('Key (S3Key)').fill(options.key);
    });
    await shot(page, '02-from-bucket');
    // A missing object: the page shows Lambda's error.
    await page.goto(baseUrl + '/_rayo/console/#/create');
    await page.getByLabel('Function name').fill('from-nowhere');
    await page.getByLabel('From a bucket object (S3Bucket/S3Key)').check();
    await page.getByLabel('Bucket (S3Bucket)').fill(options.bucket);
    await page.getByLabel('Key (S3Key)').fill('missing.zip');
    await page.getByRole('button', { name: 'Create function' }).click();
    seen.missing = await page.getByRole('alert').textContent();
    await shot(page, '03-missing-object');
  },

  // The Monitor tab counts the function's invocations.
  async monitor(page) {
    const name = options.name;
    await page.goto(`${baseUrl}/_rayo/console/#/functions/${name}/monitor`);
    await page.locator('.charts, #metrics-missing').first().waitFor();
    seen.metricsMissing = (await page.locator('#metrics-missing').count()) > 0;
    if (!seen.metricsMissing) {
      await until(page, () => {
        const el = document.querySelector('[data-metric=invocations]');
        return el && Number(el.textContent) >= 1;
      });
      seen.invocations = Number(await page.locator('[data-metric=invocations]').first().textContent());
    }
    await shot(page, 'monitor');
    await page.goto(baseUrl + '/_rayo/console/#/');
    await page.getByRole('link', { name }).waitFor();
    // The counts arrive after the list: '—' until the metrics are read.
    await until(page, () => {
      const cells = document.querySelectorAll('table.functions tbody tr:first-child td');
      return cells.length > 3 && cells[3].textContent.trim() !== '—';
    });
    seen.listRow = await page.locator('table.functions tbody tr').first().locator('th, td').allTextContents();
  },

  // The function page's tabs by keyboard alone.
  async keyboard(page) {
    await page.goto(`${baseUrl}/_rayo/console/#/functions/${options.name}/code`);
    await page.locator('.cm-content').waitFor();
    const active = () => page.evaluate(() => {
      const el = document.activeElement;
      return { role: el.getAttribute('role'), text: el.textContent, selected: el.getAttribute('aria-selected') };
    });
    let presses = 0;
    for (; presses < 40; presses++) {
      await page.keyboard.press('Tab');
      if ((await active()).role === 'tab') break;
    }
    const first = await active();
    check(first.role === 'tab' && first.text === 'Code' && first.selected === 'true', 'Tab reaches the selected tab: ' + JSON.stringify(first));
    seen.tabPresses = presses + 1;
    seen.focusOutline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    await shot(page, 'focus-on-tab');
    const steps = [];
    for (const key of ['ArrowRight', 'ArrowRight', 'End', 'Home', 'ArrowLeft']) {
      // Every one of these keys moves to another tab: wait for the move.
      const before = await page.evaluate(() => document.activeElement.id);
      await page.keyboard.press(key);
      await until(page, (before) => document.activeElement.id !== before &&
        document.activeElement.getAttribute('aria-selected') === 'true' &&
        document.querySelector('[role=tabpanel]').getAttribute('aria-labelledby') === document.activeElement.id, before);
      steps.push((await active()).text);
    }
    seen.steps = steps;
    // Tab moves from the tab list into the selected panel.
    await page.keyboard.press('Tab');
    seen.afterTab = await page.evaluate(() => document.activeElement.getAttribute('role'));
    await shot(page, 'keyboard-configuration');
  },

  // Off loopback: sign-in first; a wrong secret is refused.
  async signin(page) {
    await page.goto(baseUrl + '/_rayo/console/');
    await page.getByRole('heading', { name: 'Sign in to rayo' }).waitFor();
    await shot(page, '01-sign-in');
    await page.getByLabel('Access key ID').fill(options.key);
    await page.getByLabel('Secret access key').fill('wrong-secret');
    await page.getByRole('button', { name: 'Sign in' }).click();
    seen.wrongSecret = await page.getByRole('alert').textContent();
    await page.getByLabel('Secret access key').fill(options.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Functions/ }).waitFor();
    seen.header = await page.locator('header .who').textContent();
    seen.createButtons = await page.getByRole('link', { name: 'Create function' }).count();
    seen.cookie = (await page.context().cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite }));
    seen.cookieVisibleToScript = await page.evaluate(() => document.cookie);
    await shot(page, '02-signed-in');
    if (options.tryCreate) {
      // What a read-only user's browser would send if the page let it:
      // the request is refused by the server.
      seen.createAttempt = await page.evaluate(async (name) => {
        const session = await (await fetch('/_rayo/console/api/session')).json();
        const response = await fetch('/_rayo/console/api/aws/2015-03-31/functions', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Rayo-Console-Token': session.csrfToken },
          body: JSON.stringify({ FunctionName: name, Runtime: 'python3.11', Handler: 'a.b', Role: 'arn:aws:iam::000000000000:role/r', Code: { ZipFile: 'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==' } }),
        });
        return { status: response.status, body: await response.json() };
      }, options.tryCreate);
      await page.goto(`${baseUrl}/_rayo/console/#/functions/${options.existing}/test`);
      await page.getByLabel('Event JSON').waitFor();
      seen.testButtons = await page.locator('#run-test').count();
      await shot(page, '03-read-only-test-tab');
    }
  },

  // The list of every function: time from the data's arrival to the
  // rendered table (and the whole page load), for bench/console-list.sh.
  async bench(page) {
    const runs = [];
    for (let i = 0; i < (options.runs || 5); i++) {
      await page.goto('about:blank');
      const start = Date.now();
      await page.goto(baseUrl + '/_rayo/console/#/');
      await page.locator('table.functions, p.empty').first().waitFor();
      while (!(await page.evaluate(() => window.__rayoListRenderedAt))) await page.waitForTimeout(20);
      const timing = await page.evaluate(() => ({
        rows: document.querySelectorAll('table.functions tbody tr').length,
        render: window.__rayoListRenderedAt - window.__rayoListDataAt,
        loaded: window.__rayoListRenderedAt,
      }));
      timing.wall = Date.now() - start;
      runs.push(timing);
    }
    seen.runs = runs;
    await shot(page, 'list');
  },
};

(async () => {
  const { browser, page } = await launch();
  try {
    await scenarios[scenario](page);
  } catch (error) {
    try {
      await shot(page, 'failure');
    } catch {}
    console.error(error.stack || String(error));
    console.log(JSON.stringify(seen));
    await browser.close();
    process.exit(1);
  }
  await browser.close();
  console.log(JSON.stringify(seen));
})();
