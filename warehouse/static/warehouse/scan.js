/* Scan station: a barcode scanner types the code and presses Enter. The scan is sent as JSON; the answer is
   shown in big green (done) or red (refused) text with a beep, and the input is ready for the next scan.
   Without this script the form still posts and the server renders the result. */
(function () {
  "use strict";

  const STEP_KEY = "orderhub.scanStation.step";
  const HISTORY_KEPT = 10;
  const form = document.getElementById("scan-form");
  const input = document.getElementById("scan-code");
  const result = document.getElementById("scan-result");
  const message = document.getElementById("scan-message");
  const orderLine = document.getElementById("scan-order");
  const gifts = document.getElementById("scan-gifts");
  const giftList = document.getElementById("scan-gift-list");
  const giftHeading = document.getElementById("scan-gifts-heading");
  const history = document.getElementById("scan-history");
  const label = document.getElementById("scan-label");
  const labelLink = document.getElementById("scan-label-link");
  const labelFrame = document.getElementById("scan-label-frame");
  const stepInputs = Array.from(form.querySelectorAll("input[name=step]"));
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function storage(action, value) {
    try {  // private mode or a locked-down PDA may refuse storage: the step then just is not remembered
      if (action === "get") return window.localStorage.getItem(STEP_KEY);
      window.localStorage.setItem(STEP_KEY, value);
    } catch (e) {
      return null;
    }
    return null;
  }

  function currentStep() {
    const checked = stepInputs.find((el) => el.checked);
    return checked ? checked.value : "print";
  }

  function stepLabel(step) {
    const el = form.querySelector(`.step[data-step="${step}"]`);
    return el ? el.textContent.replace(/\s+/g, " ").trim() : step;
  }

  // The packer's step stays chosen across scans and page loads, on this device.
  const savedStep = storage("get");
  stepInputs.forEach((el) => {
    if (savedStep && el.value === savedStep) el.checked = true;
    el.addEventListener("change", () => {
      storage("set", el.value);
      input.focus();
    });
  });

  // Tapping anywhere else on a phone must not leave the scanner typing into nothing.
  document.addEventListener("click", (event) => {
    if (!event.target.closest("a, input, label, button")) input.focus();
  });

  let audio = null;
  function beep(kind) {
    document.body.dataset.sound = kind;
    try {
      const AudioContext = window.AudioContext || window.webkitAudioContext;
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
      const ok = kind === "ok";
      const seconds = ok ? 0.12 : 0.8;  // short and high: done; low and long: look at the screen
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.type = ok ? "sine" : "square";
      oscillator.frequency.value = ok ? 1320 : 180;
      gain.gain.setValueAtTime(0.3, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + seconds);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + seconds);
    } catch (e) {
      /* no sound on this device: the colour still tells */
    }
  }

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function show(data, code, step) {
    result.hidden = false;
    result.className = "result " + (data.ok ? "ok" : "error");
    message.textContent = data.message;
    orderLine.textContent = data.order ? data.order + (data.status_label ? " · " + data.status_label : "") : "";
    giftList.replaceChildren(
      ...(data.gifts || []).map((gift) => {
        const li = element("li");
        li.append(element("b", "sku", gift.sku), " ", element("span", "name", gift.name), " ");
        li.append(element("span", "qty", "× " + gift.quantity));
        if (gift.note) li.append(" ", element("span", "note", gift.note));
        return li;
      })
    );
    // The waybill's label: a link to print it again, and on a confirmed 打单确认 the print dialog at once.
    label.hidden = !data.label_url;
    labelLink.href = data.label_url || "#";
    if (data.ok && data.label_url) printLabel(data.label_url);
    // Also on a refused print scan of an order being packed: the gifts go in before the parcel is sealed.
    gifts.hidden = !(data.gifts && data.gifts.length);
    giftHeading.textContent = giftHeading.dataset[step] || giftHeading.dataset.print;
    remember(data, code, step);
    beep(data.ok ? "ok" : "error");
  }

  function printLabel(url) {
    labelFrame.onload = () => {
      try {
        labelFrame.contentWindow.focus();
        labelFrame.contentWindow.print();
      } catch (e) {
        /* no print dialog here (e.g. a PDA without a PDF viewer): the link stays */
      }
      input.focus();
    };
    labelFrame.src = url;
  }

  function remember(data, code, step) {
    const empty = history.querySelector(".empty");
    if (empty) empty.remove();
    const li = element("li", data.ok ? "ok" : "error");
    const time = new Date().toTimeString().slice(0, 8);
    li.append(element("time", "", time), " ", element("span", "h-step", stepLabel(step)), " ");
    li.append(element("b", "", code), " ", element("span", "h-message", data.message));
    history.prepend(li);
    while (history.children.length > HISTORY_KEPT) history.lastElementChild.remove();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim();
    const step = currentStep();
    // Clear at once: the next scan may come before this answer does.
    input.value = "";
    input.focus();
    if (!code) return;
    let data;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify({ code: code, step: step }),
      });
      // A lapsed login answers with the login page, not JSON.
      if (!(response.headers.get("Content-Type") || "").includes("application/json")) throw new Error("not JSON");
      data = await response.json();
    } catch (e) {
      data = { ok: false, message: form.dataset.failedMessage, order: null, gifts: [] };
    }
    show(data, code, step);
    input.focus();
  });
})();
