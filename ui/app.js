/*
 * app.js: gt's web console. Plain JavaScript, served by gt-server from its
 * own binary; it talks to the same origin's API only, with the token kept
 * in this tab's sessionStorage and sent as a bearer header (never in a URL
 * or a cookie). The role shown comes from the token's payload, for the
 * display only: the API decides what a token may do.
 */
'use strict';

(function () {
	var KEY = 'gt.token';
	var POLL_MS = 2000;		/* live figures refresh */
	var CHART_POINTS = 90;		/* samples kept for the chart (3 min) */
	var HISTORY_RETRY = 30;		/* polls between probes of /api/stats/history */
	var HISTORY_SPAN = 3600;	/* s of history drawn before the live samples */

	var token = null;
	var admin = false;
	var timer = null;
	var polling = false;
	var editing = null;		/* port being edited, or null for create */
	var mappings = [];
	var samples = [];		/* [{t, ports: {port: [in, out]}}] */
	var history = null;		/* records from /api/stats/history, or null */
	var historyWait = 0;

	function $(id) { return document.getElementById(id); }

	/* Bytes as text with a binary unit. */
	function fmtBytes(n) {
		var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
		n = Number(n) || 0;
		while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
		if (i === 0 || n === Math.round(n))
			return String(Math.round(n)) + ' ' + u[i];
		return n.toFixed(n < 10 ? 2 : 1) + ' ' + u[i];
	}

	function fmtRate(n) { return fmtBytes(n) + '/s'; }

	/* A text node in a new element, with an optional class and label. */
	function el(tag, text, cls, label) {
		var e = document.createElement(tag);
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		if (cls)
			e.className = cls;
		if (label)
			e.setAttribute('data-label', label);
		return e;
	}

	function button(text, cls, fn) {
		var b = el('button', text, cls);
		b.type = 'button';
		b.addEventListener('click', fn);
		return b;
	}

	/* The role claim of a JWT, or '' (display only: not verified here). */
	function tokenClaims(t) {
		try {
			var p = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
			while (p.length % 4)
				p += '=';
			return JSON.parse(atob(p)) || {};
		} catch (e) {
			return {};
		}
	}

	/* One API call; resolves to {status, body} and never throws. */
	function api(method, path, body) {
		var opt = {
			method: method,
			headers: { 'Authorization': 'Bearer ' + token },
			cache: 'no-store',
			credentials: 'omit',
			redirect: 'error',
			referrerPolicy: 'no-referrer'
		};
		if (body !== undefined) {
			opt.headers['Content-Type'] = 'application/json';
			opt.body = JSON.stringify(body);
		}
		return fetch(path, opt).then(function (r) {
			return r.json().then(function (j) {
				return { status: r.status, body: j };
			}, function () {
				return { status: r.status, body: null };
			});
		}, function (e) {
			return { status: 0, body: { message: 'network error: ' + e.message } };
		});
	}

	function message(res) {
		if (res.body && typeof res.body.message === 'string' && res.body.message)
			return res.body.message;
		return 'HTTP ' + res.status;
	}

	var noticeTimer = null;
	function notice(text, bad) {
		var n = $('notice');
		n.textContent = text;
		n.className = bad ? 'notice bad' : 'notice';
		n.hidden = !text;
		if (noticeTimer !== null)
			clearTimeout(noticeTimer);
		/* good news fades; a refusal stays until the next message */
		noticeTimer = text && !bad ? setTimeout(function () { n.hidden = true; }, 8000) : null;
	}

	/* A 401 in the middle of a session: the token expired or was refused. */
	function checkAuth(res) {
		if (res.status !== 401)
			return true;
		signOut('Signed out: ' + message(res));
		return false;
	}

	/* ---- sign in and out ---- */

	function showSignIn(err) {
		$('console').hidden = true;
		$('signin').hidden = false;
		$('token').value = '';
		var e = $('signin-error');
		e.textContent = err || '';
		e.hidden = !err;
		$('token').focus();
	}

	function start(t) {
		token = t;
		var c = tokenClaims(t);
		admin = c.role === 'admin';
		$('role').textContent = admin ? 'admin' : (c.role || '?') + ' (read only)';
		$('role').className = admin ? 'badge admin' : 'badge read';
		$('who').textContent = c.sub ? String(c.sub) : '';
		document.body.classList.toggle('readonly', !admin);
		$('new-mapping').hidden = !admin;
		$('edit-sec').hidden = true;
		$('signin').hidden = true;
		$('console').hidden = false;
		samples = [];
		history = null;
		historyWait = 0;
		poll();
	}

	function signIn(ev) {
		ev.preventDefault();
		var t = $('token').value.replace(/\s+/g, '');
		var e = $('signin-error');
		if (!t) {
			e.textContent = 'Paste a token first.';
			e.hidden = false;
			return;
		}
		token = t;
		$('signin-btn').disabled = true;
		api('GET', '/api/mapping/list').then(function (res) {
			$('signin-btn').disabled = false;
			if (res.status !== 200) {
				token = null;
				e.textContent = 'Sign-in refused (' + res.status + '): ' + message(res);
				e.hidden = false;
				return;
			}
			sessionStorage.setItem(KEY, t);
			e.hidden = true;
			start(t);
			renderMappings(res.body.data.mappings || []);
		});
	}

	function signOut(why) {
		sessionStorage.removeItem(KEY);
		token = null;
		admin = false;
		if (timer !== null)
			clearTimeout(timer);
		timer = null;
		mappings = [];
		samples = [];
		history = null;
		['mappings', 'sessions', 'clients'].forEach(function (id) {
			$(id).tBodies[0].replaceChildren();
		});
		notice('');
		showSignIn(typeof why === 'string' ? why : '');
	}

	/* ---- the live figures ---- */

	function poll() {
		if (timer !== null)
			clearTimeout(timer);
		timer = null;
		if (token === null || polling)
			return;
		polling = true;
		var reqs = [api('GET', '/api/mapping/list'), api('GET', '/api/connections'),
		    api('GET', '/api/tunnel/clients')];
		var wantHistory = historyWait <= 0;
		if (wantHistory)
			reqs.push(historyRequest());
		Promise.all(reqs).then(function (r) {
			polling = false;
			if (token === null)
				return;
			for (var i = 0; i < r.length; i++)
				if (!checkAuth(r[i]))
					return;
			if (r[0].status === 200) {
				renderMappings(r[0].body.data.mappings || []);
				sample(r[0].body.data.mappings || []);
			}
			if (r[1].status === 200)
				renderSessions(r[1].body.data.connections || []);
			if (r[2].status === 200)
				renderClients(r[2].body.data.clients || []);
			if (wantHistory)
				takeHistory(r[3]);
			else
				historyWait--;
			drawChart();
			$('live').textContent = 'updated ' + new Date().toLocaleTimeString();
			timer = setTimeout(poll, POLL_MS);
		});
	}

	function renderMappings(list) {
		mappings = list.slice().sort(function (a, b) { return a.source_port - b.source_port; });
		var tb = $('mappings').tBodies[0];
		var rows = [], act = 0, bin = 0, bout = 0, refused = 0;
		mappings.forEach(function (m) {
			var tr = document.createElement('tr');
			tr.setAttribute('data-port', m.source_port);
			tr.appendChild(el('td', m.source_port, 'port', 'Port'));
			tr.appendChild(el('td', m.target_host + ':' + m.target_port, 'target', 'Target'));
			tr.appendChild(el('td', m.use_tunnel ? 'tunnel ' + m.client : 'direct', 'via', 'Via'));
			var ips = (m.access_ips || []).join(', ');
			tr.appendChild(el('td', m.access_rule === 'disabled' || !m.access_rule ?
			    'open' : m.access_rule + ': ' + ips, 'access', 'Access'));
			var lim = [];
			if (m.bandwidth_limit)
				lim.push(fmtRate(m.bandwidth_limit));
			if (m.max_connections)
				lim.push('max ' + m.max_connections);
			if (m.proxy_protocol)
				lim.push('PROXY ' + m.proxy_protocol);
			tr.appendChild(el('td', lim.length ? lim.join(', ') : 'none', 'limits', 'Limits'));
			[['active', m.active_connections, 'Active', false],
			 ['bytes-in', m.bytes_in, 'In', true],
			 ['bytes-out', m.bytes_out, 'Out', true],
			 ['refused', m.refused_connections, 'Refused', false]].forEach(function (f) {
				var td = el('td', f[3] ? fmtBytes(f[1]) : (f[1] || 0), f[0] + ' num', f[2]);
				td.setAttribute('data-value', String(f[1] || 0));
				tr.appendChild(td);
			});
			var td = el('td', null, 'write-col actions', 'Actions');
			if (admin) {
				td.appendChild(button('Edit', 'small secondary edit', function () { openEdit(m); }));
				td.appendChild(button('Remove', 'small danger remove', function (ev) {
					confirmThen(ev.target, 'Confirm remove', function () {
						removeMapping(m.source_port);
					});
				}));
			}
			tr.appendChild(td);
			if (m.error) {
				tr.classList.add('broken');
				tr.title = m.error;
			}
			rows.push(tr);
			act += m.active_connections || 0;
			bin += m.bytes_in || 0;
			bout += m.bytes_out || 0;
			refused += m.refused_connections || 0;
		});
		tb.replaceChildren.apply(tb, rows);
		$('mappings-empty').hidden = rows.length > 0;
		$('sum-mappings').textContent = String(mappings.length);
		$('sum-active').textContent = String(act);
		$('sum-in').textContent = fmtBytes(bin);
		$('sum-out').textContent = fmtBytes(bout);
		$('sum-refused').textContent = String(refused);
		var sel = $('chart-port'), cur = sel.value;
		var opts = [el('option', 'All mappings')];
		opts[0].value = '';
		mappings.forEach(function (m) {
			var o = el('option', 'port ' + m.source_port);
			o.value = String(m.source_port);
			opts.push(o);
		});
		sel.replaceChildren.apply(sel, opts);
		sel.value = cur;
		if (sel.value !== cur)
			sel.value = '';
	}

	function renderSessions(list) {
		var tb = $('sessions').tBodies[0], rows = [];
		list.forEach(function (s) {
			var tr = document.createElement('tr');
			tr.setAttribute('data-id', s.id);
			tr.appendChild(el('td', s.id, 'id', 'ID'));
			tr.appendChild(el('td', s.port, 'port', 'Port'));
			tr.appendChild(el('td', s.peer, 'peer', 'Peer'));
			tr.appendChild(el('td', s.client || '-', 'client', 'Client'));
			tr.appendChild(el('td', s.target, 'target', 'Target'));
			tr.appendChild(el('td', fmtBytes(s.bytes_in), 'bytes-in num', 'In'));
			tr.appendChild(el('td', fmtBytes(s.bytes_out), 'bytes-out num', 'Out'));
			tr.appendChild(el('td', Math.round(s.age_seconds || 0) + ' s', 'age num', 'Age'));
			var td = el('td', null, 'write-col actions', 'Actions');
			if (admin)
				td.appendChild(button('Close', 'small danger close', function () {
					act('POST', '/api/connections/close', { id: s.id },
					    'Session ' + s.id + ' closed');
				}));
			tr.appendChild(td);
			rows.push(tr);
		});
		tb.replaceChildren.apply(tb, rows);
		$('sessions-empty').hidden = rows.length > 0;
	}

	function renderClients(list) {
		var tb = $('clients').tBodies[0], rows = [];
		list.forEach(function (c) {
			var tr = document.createElement('tr');
			tr.setAttribute('data-name', c.name);
			tr.appendChild(el('td', c.name, 'name', 'Name'));
			tr.appendChild(el('td', c.address, 'address', 'Address'));
			tr.appendChild(el('td', c.connected_at, 'since', 'Connected'));
			var td = el('td', null, 'write-col actions', 'Actions');
			if (admin)
				td.appendChild(button('Disconnect', 'small danger disconnect', function (ev) {
					confirmThen(ev.target, 'Confirm disconnect', function () {
						act('POST', '/api/tunnel/clients/disconnect', { name: c.name },
						    'Client ' + c.name + ' disconnected');
					});
				}));
			tr.appendChild(td);
			rows.push(tr);
		});
		tb.replaceChildren.apply(tb, rows);
		$('clients-empty').hidden = rows.length > 0;
	}

	/*
	 * A second click within 4 s confirms: no modal dialog, and the row
	 * may be redrawn under the pointer without losing the first click.
	 */
	var pending = null;
	function confirmThen(b, text, fn) {
		var tr = b.closest('tr');
		var key = text + '|' + tr.getAttribute('data-port') + '|' +
		    tr.getAttribute('data-name');
		if (pending && pending.key === key && Date.now() - pending.at < 4000) {
			pending = null;
			fn();
			return;
		}
		pending = { key: key, at: Date.now() };
		b.textContent = text;
		b.classList.add('armed');
		notice(text + ': click again within 4 s.');
	}

	/* A write call, then a refresh; its answer shows in the notice line. */
	function act(method, path, body, ok) {
		return api(method, path, body).then(function (res) {
			if (!checkAuth(res))
				return res;
			if (res.status === 200)
				notice(ok);
			else
				notice('Refused (' + res.status + '): ' + message(res), true);
			poll();
			return res;
		});
	}

	function removeMapping(port) {
		act('POST', '/api/mapping/remove', { port: port }, 'Mapping ' + port + ' removed');
	}

	/* ---- the create/update form ---- */

	function openEdit(m) {
		var f = $('mapping-form');
		f.reset();
		$('form-error').hidden = true;
		editing = m ? m.source_port : null;
		$('edit-title').textContent = m ? 'Edit mapping ' + m.source_port : 'New mapping';
		$('mapping-submit').textContent = m ? 'Save' : 'Create';
		$('f-port').readOnly = !!m;
		$('f-use-tunnel').disabled = !!m;
		if (m) {
			$('f-port').value = m.source_port;
			$('f-target-host').value = m.target_host;
			$('f-target-port').value = m.target_port;
			$('f-use-tunnel').checked = !!m.use_tunnel;
			$('f-client').value = m.client || '';
			$('f-access-rule').value = m.access_rule || 'disabled';
			$('f-access-ips').value = (m.access_ips || []).join(', ');
			var bw = m.bandwidth_limit || 0, unit = 1;
			if (bw && bw % 1048576 === 0)
				unit = 1048576;
			else if (bw && bw % 1024 === 0)
				unit = 1024;
			$('f-bandwidth-unit').value = String(unit);
			$('f-bandwidth').value = bw / unit;
			$('f-max-conns').value = m.max_connections || 0;
			$('f-proxy').value = m.proxy_protocol || '';
		}
		tunnelToggled();
		$('edit-sec').hidden = false;
		$('edit-sec').scrollIntoView({ block: 'nearest' });
		(m ? $('f-target-host') : $('f-port')).focus();
	}

	/* A direct mapping has no client to name. */
	function tunnelToggled() {
		$('f-client').disabled = !$('f-use-tunnel').checked;
	}

	function closeEdit() {
		editing = null;
		$('edit-sec').hidden = true;
	}

	/* The form as an API body; throws Error naming a bad field. */
	function formBody() {
		function int(id, name) {
			var v = $(id).value.trim();
			if (!/^\d+$/.test(v))
				throw new Error(name + ' must be a whole number');
			return parseInt(v, 10);
		}
		var b = {};
		b.port = int('f-port', 'port');
		b.target_host = $('f-target-host').value.trim();
		b.target_port = int('f-target-port', 'target_port');
		var tunnel = $('f-use-tunnel').checked;
		if (editing === null)
			b.use_tunnel = tunnel;
		if (tunnel)
			b.client = $('f-client').value.trim();
		b.access_rule = $('f-access-rule').value;
		b.access_ips = $('f-access-ips').value.split(/[\s,;]+/).filter(function (s) {
			return s.length > 0;
		});
		var bw = Number($('f-bandwidth').value || '0');
		if (!isFinite(bw) || bw < 0)
			throw new Error('bandwidth_limit must be 0 or more');
		b.bandwidth_limit = Math.round(bw * Number($('f-bandwidth-unit').value));
		b.max_connections = int('f-max-conns', 'max_connections');
		b.proxy_protocol = $('f-proxy').value;
		return b;
	}

	function submitForm(ev) {
		ev.preventDefault();
		var e = $('form-error'), body;
		try {
			body = formBody();
		} catch (err) {
			e.textContent = err.message;
			e.hidden = false;
			return;
		}
		var upd = editing !== null;
		$('mapping-submit').disabled = true;
		api('POST', upd ? '/api/mapping/update' : '/api/mapping/create', body).then(function (res) {
			$('mapping-submit').disabled = false;
			if (!checkAuth(res))
				return;
			if (res.status !== 200) {
				e.textContent = 'Refused (' + res.status + '): ' + message(res);
				e.hidden = false;
				return;
			}
			notice('Mapping ' + body.port + (upd ? ' updated' : ' created'));
			closeEdit();
			poll();
		});
	}

	/* ---- the traffic chart ---- */

	/* Keep the cumulative counters of each mapping at this poll. */
	function sample(list) {
		var s = { t: Date.now() / 1000, ports: {} };
		list.forEach(function (m) {
			s.ports[m.source_port] = [m.bytes_in || 0, m.bytes_out || 0];
		});
		samples.push(s);
		if (samples.length > CHART_POINTS + 1)
			samples.shift();
	}

	function historyRequest() {
		var p = $('chart-port').value;
		return api('GET', '/api/stats/history?limit=500' + (p ? '&port=' + encodeURIComponent(p) : ''));
	}

	/* Use the history when the server keeps one; else live samples only. */
	function takeHistory(res) {
		var recs = null;
		if (res.status === 200 && res.body) {
			var d = res.body.data && res.body.data.records ? res.body.data : res.body;
			if (Array.isArray(d.records))
				recs = d.records;
		}
		if (recs === null) {
			history = null;
			historyWait = HISTORY_RETRY;
		} else {
			history = recs;
			historyWait = 0;
		}
	}

	function recTime(v) {
		if (typeof v === 'number')
			return v > 1e12 ? v / 1000 : v;
		var t = Date.parse(v);
		return isNaN(t) ? null : t / 1000;
	}

	/* Rates in bytes/s: [{t, in, out}] for the chosen port or all. */
	function series() {
		var port = $('chart-port').value, pts = [], i;
		function pick(s) {
			var a = [0, 0];
			Object.keys(s.ports).forEach(function (k) {
				if (port === '' || k === port) {
					a[0] += s.ports[k][0];
					a[1] += s.ports[k][1];
				}
			});
			return a;
		}
		for (i = 1; i < samples.length; i++) {
			var dt = samples[i].t - samples[i - 1].t;
			if (dt <= 0)
				continue;
			var a = pick(samples[i - 1]), b = pick(samples[i]);
			pts.push({ t: samples[i].t, in: Math.max(0, b[0] - a[0]) / dt,
			    out: Math.max(0, b[1] - a[1]) / dt });
		}
		if (history === null || history.length === 0)
			return { pts: pts, src: 'live, every ' + POLL_MS / 1000 + ' s' };
		/* history before the first live sample, summed per interval */
		var first = samples.length ? samples[0].t : Infinity, by = {}, ts = [];
		var since = Date.now() / 1000 - HISTORY_SPAN;
		history.forEach(function (r) {
			var t = recTime(r.recorded_at);
			if (t === null || t >= first || t < since ||
			    (port !== '' && String(r.port) !== port))
				return;
			if (!by[t]) {
				by[t] = { t: t, in: 0, out: 0 };
				ts.push(t);
			}
			by[t].in += r.bytes_in || 0;
			by[t].out += r.bytes_out || 0;
		});
		ts.sort(function (x, y) { return x - y; });
		var step = 60;
		for (i = 1; i < ts.length; i++)
			if (ts[i] - ts[i - 1] > 0 && ts[i] - ts[i - 1] < step)
				step = ts[i] - ts[i - 1];
		var hp = ts.map(function (t) {
			return { t: t, in: by[t].in / step, out: by[t].out / step };
		});
		return { pts: hp.concat(pts).slice(-CHART_POINTS * 2),
		    src: 'history (' + step + ' s records) then live' };
	}

	function drawChart() {
		var cv = $('chart'), s = series(), pts = s.pts;
		var dpr = window.devicePixelRatio || 1;
		var w = Math.max(200, cv.clientWidth || 600), h = Math.max(120, cv.clientHeight || 200);
		cv.width = Math.round(w * dpr);
		cv.height = Math.round(h * dpr);
		var g = cv.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, h);
		var peak = 0;
		pts.forEach(function (p) { peak = Math.max(peak, p.in, p.out); });
		var top = peak > 0 ? peak * 1.15 : 1024;
		var L = 70, R = 8, T = 10, B = 22, pw = w - L - R, ph = h - T - B;
		g.font = '11px sans-serif';
		g.fillStyle = '#6b7280';
		g.strokeStyle = '#e5e7eb';
		g.lineWidth = 1;
		for (var k = 0; k <= 4; k++) {
			var y = T + ph - ph * k / 4;
			g.beginPath();
			g.moveTo(L, y + 0.5);
			g.lineTo(L + pw, y + 0.5);
			g.stroke();
			g.textAlign = 'right';
			g.fillText(fmtRate(top * k / 4), L - 6, y + 4);
		}
		var t1 = Date.now() / 1000, t0 = pts.length ? Math.min(pts[0].t, t1 - 60) : t1 - 60;
		g.textAlign = 'left';
		g.fillText(new Date(t0 * 1000).toLocaleTimeString(), L, h - 6);
		g.textAlign = 'right';
		g.fillText(new Date(t1 * 1000).toLocaleTimeString(), L + pw, h - 6);
		function line(key, color, dash) {
			if (pts.length === 0)
				return;
			g.strokeStyle = color;
			g.lineWidth = 2;
			g.setLineDash(dash);
			g.beginPath();
			pts.forEach(function (p, i) {
				var x = L + pw * (p.t - t0) / Math.max(1, t1 - t0);
				var y = T + ph - ph * p[key] / top;
				if (i === 0)
					g.moveTo(x, y);
				else
					g.lineTo(x, y);
			});
			g.stroke();
		}
		/* out under in, in dashed: an echo's equal rates stay both visible */
		line('out', '#16a34a', []);
		line('in', '#2563eb', [6, 4]);
		g.setLineDash([]);
		var last = pts.length ? pts[pts.length - 1] : { in: 0, out: 0 };
		cv.setAttribute('data-points', String(pts.length));
		cv.setAttribute('data-peak', String(Math.round(peak)));
		cv.setAttribute('data-last-in', String(Math.round(last.in)));
		cv.setAttribute('data-last-out', String(Math.round(last.out)));
		cv.setAttribute('data-source', history ? 'history' : 'live');
		$('chart-source').textContent = s.src + '; now in ' + fmtRate(last.in) +
		    ', out ' + fmtRate(last.out) + ', peak ' + fmtRate(peak);
	}

	/* ---- wiring ---- */

	document.addEventListener('DOMContentLoaded', function () {
		$('signin-form').addEventListener('submit', signIn);
		$('signout').addEventListener('click', function () { signOut(''); });
		$('new-mapping').addEventListener('click', function () { openEdit(null); });
		$('mapping-cancel').addEventListener('click', closeEdit);
		$('mapping-form').addEventListener('submit', submitForm);
		$('f-use-tunnel').addEventListener('change', tunnelToggled);
		$('chart-port').addEventListener('change', function () {
			historyWait = 0;
			drawChart();
		});
		window.addEventListener('resize', drawChart);
		var t = sessionStorage.getItem(KEY);
		if (t)
			start(t);
		else
			showSignIn('');
	});
})();
