// Passkey ceremonies (WebAuthn) for every <form data-passkey="get|create" data-options="{json}">.
// The options are the `publicKey` member for navigator.credentials.get/create with binary fields in
// base64url; the answer goes, as JSON with base64url fields, into the form's hidden `credential` input
// and the form is submitted. A form with `data-passkey-conditional` also offers its passkeys in the
// autofill of inputs marked `autocomplete="... webauthn"` (conditional mediation).
// Loaded as a file (the pages' CSP allows no inline script).
(function () {
  "use strict";

  var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-passkey]"));
  if (forms.length === 0) {
    return;
  }
  var supported = typeof window.PublicKeyCredential === "function" &&
    !!navigator.credentials && typeof navigator.credentials.get === "function";
  if (!supported) {
    // Without WebAuthn there is nothing to offer: the forms stay hidden, and say so where asked.
    forms.forEach(function (form) { form.hidden = true; });
    Array.prototype.forEach.call(document.querySelectorAll(".passkey-unsupported"), function (el) {
      el.hidden = false;
    });
    return;
  }

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (d) {
      var copy = Object.assign({}, d);
      copy.id = fromB64url(d.id);
      return copy;
    });
  }

  function publicKeyOptions(form) {
    var options = JSON.parse(form.getAttribute("data-options"));
    options.challenge = fromB64url(options.challenge);
    if (options.user && typeof options.user.id === "string") {
      options.user = Object.assign({}, options.user, { id: fromB64url(options.user.id) });
    }
    if (options.excludeCredentials) {
      options.excludeCredentials = decodeDescriptors(options.excludeCredentials);
    }
    if (options.allowCredentials) {
      options.allowCredentials = decodeDescriptors(options.allowCredentials);
    }
    return options;
  }

  // The JSON webauthn-rs reads (`RegisterPublicKeyCredential` / `PublicKeyCredential`).
  function encode(credential, kind) {
    var r = credential.response;
    var response = kind === "create"
      ? { attestationObject: toB64url(r.attestationObject), clientDataJSON: toB64url(r.clientDataJSON) }
      : {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null
      };
    return JSON.stringify({
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: response
    });
  }

  function showError(form, message) {
    var box = form.querySelector(".passkey-error");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  function explain(error) {
    switch (error && error.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Try again.";
      case "InvalidStateError":
        return "This passkey is already registered to your account.";
      case "SecurityError":
        return "Passkeys cannot be used on this address.";
      case "NotSupportedError":
        return "This device has no passkey that can be used here.";
      default:
        return "The passkey could not be used. Try again, or use another way.";
    }
  }

  // "Keep me signed in", ticked on the password form, also applies to a passkey sign-in on the page.
  function carryRemember(form) {
    var box = document.querySelector("input[type=checkbox][name=remember]");
    if (box && box.checked && !form.querySelector("input[name=remember]")) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "remember";
      input.value = "1";
      form.appendChild(input);
    }
  }

  function complete(form, credential, kind) {
    form.querySelector("input[name=credential]").value = encode(credential, kind);
    carryRemember(form);
    form.submit();
  }

  var pending = null; // the conditional request, aborted before a modal one starts

  function run(form) {
    var kind = form.getAttribute("data-passkey");
    var options;
    try {
      options = publicKeyOptions(form);
    } catch (e) {
      showError(form, "This page is out of date. Reload it and try again.");
      return;
    }
    if (pending) {
      pending.abort();
      pending = null;
    }
    var request = kind === "create"
      ? navigator.credentials.create({ publicKey: options })
      : navigator.credentials.get({ publicKey: options });
    request.then(function (credential) {
      if (credential) {
        complete(form, credential, kind);
      }
    }, function (error) {
      showError(form, explain(error));
      // The button's request stopped the autofill one: offer autofill again.
      if (kind === "get" && form.hasAttribute("data-passkey-conditional")) {
        startConditional(form);
      }
    });
  }

  function startConditional(form) {
    var check = window.PublicKeyCredential.isConditionalMediationAvailable;
    if (typeof check !== "function" || typeof AbortController !== "function") {
      return;
    }
    check.call(window.PublicKeyCredential).then(function (available) {
      if (!available) {
        return;
      }
      pending = new AbortController();
      navigator.credentials.get({
        publicKey: publicKeyOptions(form),
        mediation: "conditional",
        signal: pending.signal
      }).then(function (credential) {
        if (credential) {
          complete(form, credential, "get");
        }
      }, function () {
        // Aborted (a modal request started) or dismissed: the button still works.
      });
    }, function () { /* no conditional UI */ });
  }

  forms.forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) {
        return;
      }
      event.preventDefault();
      run(form);
    });
    if (form.hasAttribute("data-passkey-conditional")) {
      startConditional(form);
    }
  });
}());
