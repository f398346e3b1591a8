// ferry relay's status page (src/lib/relay/status.js, served from the binary).
//
// Polls /api/status every POLL_MS and fills the page.  Every text from the
// document goes in with textContent (it holds store error messages and
// names from the database): never as HTML.  Counters in the document are
// cumulative since the relay started; the charts show what changed
// between two polls (points/s, the mean latency of the writes of that
// interval, failed writes / writes), so they need no state in the relay.
// An error in this script is written into #js-errors (and the console):
// the page's test fails on it.
'use strict';

(function () {
	const POLL_MS = 1500;
	const KEEP_MS = 5 * 60 * 1000;
	const STEPS = ['prepare', 'dual-write', 'backfill', 'validate', 'switchover', 'cleanup'];
	const STORES = ['old', 'new'];
	const COLOR = { old: '#d9730d', new: '#2f6fd6', spool: '#555', lag: '#7b3fb5' };

	let prev = null;        // the previous poll's document
	const hist = [];        // {t, points:{old,new}, latency:{..}, errors:{..}, spool, lag}
	let polls = 0;
	let nerrors = 0;

	function $(id) { return document.getElementById(id); }

	function showError(msg) {
		const ul = $('js-errors');
		const li = document.createElement('li');

		nerrors++;
		li.textContent = msg;
		ul.appendChild(li);
		ul.hidden = false;
		document.body.dataset.jsErrors = String(nerrors);
	}

	window.addEventListener('error', function (e) {
		showError('script error: ' + e.message + ' (' + (e.filename || '?') + ':' +
			  (e.lineno || '?') + ')');
	});
	window.addEventListener('unhandledrejection', function (e) {
		showError('script error: ' + (e.reason && e.reason.stack ? e.reason.stack : e.reason));
	});
	document.addEventListener('securitypolicyviolation', function (e) {
		showError('blocked by the Content-Security-Policy: ' + e.violatedDirective + ' ' +
			  e.blockedURI);
	});

	// ---- formatting

	function num(v, digits) {
		if (v === null || v === undefined || Number.isNaN(v))
			return '-';
		return Number(v).toLocaleString('en-US', { maximumFractionDigits: digits || 0 });
	}

	function ms(seconds) {
		if (seconds === null || seconds === undefined)
			return '-';
		const v = seconds * 1000;
		return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + ' ms';
	}

	function pct(v) {
		if (v === null || v === undefined)
			return '-';
		return (v * 100).toFixed(v < 0.001 && v > 0 ? 3 : 2) + ' %';
	}

	function setText(id, text, cls) {
		const el = $(id);

		el.textContent = text;
		if (cls !== undefined)
			el.className = cls;
	}

	// one row of cells: a string, or {text, cls}
	function row(tbody, cells) {
		const tr = document.createElement('tr');

		cells.forEach(function (c) {
			const td = document.createElement('td');

			if (c !== null && typeof c === 'object') {
				td.textContent = c.text;
				if (c.cls)
					td.className = c.cls;
				if (c.title)
					td.title = c.title;
			} else {
				td.textContent = c === null || c === undefined ? '-' : String(c);
			}
			tr.appendChild(td);
		});
		tbody.appendChild(tr);
	}

	function body(id) {
		const tb = $(id).tBodies[0];

		tb.replaceChildren();
		return tb;
	}

	// pass, fail, or pending (a gate not evaluated yet: not-run, skipped)
	function gateClass(state) {
		return state === 'pass' ? 'pass' : state === 'fail' ? 'fail' : 'pending';
	}

	// ---- the rates between two polls

	function store(d, s) {
		return d && d.relay && d.relay.stores ? d.relay.stores[s] : undefined;
	}

	function sample(d, p) {
		const dt = (d.time - p.time) / 1000;
		const out = { t: d.time, points: {}, latency: {}, errors: {},
			      spool: d.relay.spool_records, lag: d.relay.replay_lag_seconds };

		STORES.forEach(function (s) {
			const a = store(d, s), b = store(p, s);

			if (!a || !b || dt <= 0 || a.points_written < b.points_written) {
				// absent, or the relay restarted (counters from 0)
				out.points[s] = out.latency[s] = out.errors[s] = null;
				return;
			}
			const w = a.writes - b.writes;
			const hn = a.write_duration_seconds.count - b.write_duration_seconds.count;

			out.points[s] = (a.points_written - b.points_written) / dt;
			out.latency[s] = hn > 0 ? (a.write_duration_seconds.sum -
						   b.write_duration_seconds.sum) / hn * 1000 : null;
			out.errors[s] = w > 0 ? (a.errors - b.errors) / w * 100 : 0;
		});
		return out;
	}

	// the mean of key over the samples of the last sec seconds
	function recent(key, s, sec) {
		const since = hist.length ? hist[hist.length - 1].t - sec * 1000 : 0;
		let sum = 0, n = 0;

		hist.forEach(function (h) {
			if (h.t >= since && h[key][s] !== null) {
				sum += h[key][s];
				n++;
			}
		});
		return n ? sum / n : null;
	}

	// ---- charts

	function niceMax(v) {
		if (!(v > 0))
			return 1;
		const p = Math.pow(10, Math.floor(Math.log10(v)));

		for (const m of [1, 2, 2.5, 5, 10])
			if (m * p >= v)
				return m * p;
		return 10 * p;
	}

	// series: [{name, color, get(h) -> value or null}]
	function chart(id, series) {
		const cv = $(id);
		const dpr = window.devicePixelRatio || 1;
		const w = cv.clientWidth || cv.width, h = cv.clientHeight || cv.height;

		if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
			cv.width = Math.round(w * dpr);
			cv.height = Math.round(h * dpr);
		}
		const g = cv.getContext('2d');
		const L = 46, R = 8, T = 18, B = 16, pw = w - L - R, ph = h - T - B;
		const now = hist.length ? hist[hist.length - 1].t : Date.now(), t0 = now - KEEP_MS;
		let max = 0;

		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, h);
		series.forEach(function (s) {
			hist.forEach(function (x) {
				const v = s.get(x);

				if (v !== null && v !== undefined && v > max)
					max = v;
			});
		});
		max = niceMax(max);
		g.font = '11px system-ui, sans-serif';
		g.strokeStyle = '#ddd';
		g.fillStyle = '#666';
		g.lineWidth = 1;
		g.textAlign = 'right';
		g.textBaseline = 'middle';
		[0, 0.5, 1].forEach(function (f) {
			const y = T + ph - f * ph;

			g.beginPath();
			g.moveTo(L, y + 0.5);
			g.lineTo(L + pw, y + 0.5);
			g.stroke();
			g.fillText(num(max * f, max < 10 ? 2 : 0), L - 4, y);
		});
		g.textBaseline = 'alphabetic';
		g.fillText('now', L + pw, h - 3);
		g.textAlign = 'left';
		g.fillText('-5 min', L, h - 3);
		let lx = L, plotted = 0;
		series.forEach(function (s) {
			g.fillStyle = s.color;
			g.fillText('\u25a0 ' + s.name, lx, 12);
			lx += g.measureText('\u25a0 ' + s.name).width + 12;
			g.strokeStyle = s.color;
			g.lineWidth = 1.5;
			g.beginPath();
			let pen = false;
			hist.forEach(function (x) {
				const v = s.get(x);

				if (v === null || v === undefined || x.t < t0) {
					pen = false;
					return;
				}
				const px = L + (x.t - t0) / KEEP_MS * pw, py = T + ph - v / max * ph;

				if (pen)
					g.lineTo(px, py);
				else
					g.moveTo(px, py);
				pen = true;
				plotted++;
			});
			g.stroke();
		});
		// what was drawn, for a reader of the DOM (the page's test)
		cv.dataset.plotted = String(plotted);
		cv.dataset.max = String(max);
	}

	function storeSeries(key, d) {
		return STORES.filter(function (s) { return store(d, s); }).map(function (s) {
			return { name: s + ' (' + store(d, s).kind + ')', color: COLOR[s],
				 get: function (x) { return x[key][s]; } };
		});
	}

	function charts(d) {
		chart('chart-points', storeSeries('points', d));
		chart('chart-latency', storeSeries('latency', d));
		chart('chart-errors', storeSeries('errors', d));
		chart('chart-spool', [{ name: 'spooled records', color: COLOR.spool,
					get: function (x) { return x.spool; } }]);
		chart('chart-lag', [{ name: 'replay lag', color: COLOR.lag,
				      get: function (x) { return x.lag; } }]);
	}

	// ---- the page

	function renderRelay(d) {
		const r = d.relay;

		if (!r) {
			setText('phase', 'unknown', 'big pending');
			setText('phase-note', 'this relay keeps no metrics');
			return;
		}
		setText('phase', r.phase, 'big');
		const c = d.cutover;
		let note = r.ready ? 'ready: takes writes' : 'not ready: /ready answers 503';

		if (c && c.phase && c.phase !== r.phase)
			note += '; the cutover database says ' + c.phase +
				' (a relay follows within a second)';
		setText('phase-note', note, r.ready ? 'note' : 'note bad');
		setText('spool', num(r.spool_records) + ' records');
		setText('lag', 'replay lag ' + num(r.replay_lag_seconds, 1) + ' s, ' +
			num(r.spool_bytes / 1e6, 1) + ' MB to replay; dead letters ' +
			num(r.dead_letters));

		const tb = body('stores');
		STORES.forEach(function (s) {
			const st = r.stores ? r.stores[s] : undefined;

			if (!st)
				return;
			const er = recent('errors', s, 60);
			row(tb, [s, st.kind, { text: st.up ? 'up' : 'down', cls: st.up ? 'pass' : 'fail' },
				 { text: num(recent('points', s, 5), 1), cls: 'num' },
				 { text: num(st.errors) + ' of ' + num(st.writes) +
				   (er === null ? '' : ' (last min ' + er.toFixed(2) + ' %)'),
				   cls: st.errors ? 'num bad' : 'num' }]);
		});

		const lt = body('latency');
		STORES.forEach(function (s) {
			const st = r.stores ? r.stores[s] : undefined;

			if (!st)
				return;
			const q = st.write_duration_seconds;
			row(lt, ['writes into ' + s + ' (' + st.kind + ')', { text: num(q.count), cls: 'num' },
				 { text: ms(q.p50), cls: 'num' }, { text: ms(q.p95), cls: 'num' },
				 { text: ms(q.p99), cls: 'num' }]);
		});
		const q = r.request_duration_seconds;
		if (q)
			row(lt, ['write requests, received to answered', { text: num(q.count), cls: 'num' },
				 { text: ms(q.p50), cls: 'num' }, { text: ms(q.p95), cls: 'num' },
				 { text: ms(q.p99), cls: 'num' }]);
	}

	function renderSteps(c) {
		const ol = $('steps');
		const at = c ? STEPS.indexOf(c.step) : -1;

		ol.replaceChildren();
		STEPS.forEach(function (s, i) {
			const li = document.createElement('li');

			li.textContent = s;
			li.className = i === at ? 'current' : i < at ? 'done' : '';
			ol.appendChild(li);
		});
	}

	function renderCutover(d) {
		const c = d.cutover;
		const gates = body('gates'), relays = body('relays'), log = body('log');
		const waves = body('waves');

		renderSteps(c);
		$('waves-section').hidden = !(c && c.waves && c.waves.length);
		if (!c) {
			setText('step', d.cutover_db ? 'none planned' : 'no cutover database', 'big pending');
			setText('strategy', '');
			setText('gates-step', '');
			setText('cutover-note', (d.cutover_note || '') +
				(d.cutover_error ? ' (' + d.cutover_error + ')' : ''),
				d.cutover_error ? 'note bad' : 'note');
			return;
		}
		setText('step', c.step + (c.status !== 'active' ? ' (' + c.status + ')' : ''),
			c.status === 'active' ? 'big' : 'big bad');
		setText('strategy', 'strategy ' + c.strategy + '; step since ' + c.step_since +
			(c.t0 ? '; T0 ' + c.t0 : ''));
		setText('gates-step', c.step === 'cleanup' ? '(cleanup is the last step)' :
			'(to leave ' + c.step + ': ferry cutover advance moves on when all pass)');
		let note = 'read ' + num(d.cutover_age_seconds, 1) + ' s ago';
		if (d.cutover_error)
			note = 'cannot read the cutover now: ' + d.cutover_error + '; shown as ' + note;
		setText('cutover-note', note, d.cutover_error ? 'note bad' : 'note');
		(c.gates || []).forEach(function (g) {
			const cls = gateClass(g.state);

			row(gates, [g.name, { text: cls, cls: cls, title: g.state }, g.figure]);
		});
		(c.waves || []).forEach(function (w) {
			row(waves, [String(w.wave), w.name,
				    w.match.length ? w.match.join(', ') : '(every point of no other wave)',
				    { text: w.phase, cls: w.phase === 'new-primary' ? 'pass' : '' },
				    w.since || '']);
		});
		(c.relays || []).forEach(function (x) {
			row(relays, [x.relay_id, x.listen, x.phase + (x.waves ? ' (waves ' + x.waves + ')' : ''),
				     { text: num(x.seen_seconds_ago, 1) + ' s ago', cls: x.live ? '' : 'bad' },
				     { text: x.ready ? 'yes' : 'no', cls: x.ready ? 'pass' : 'fail' },
				     num(x.spool_records), num(x.replay_lag_seconds, 1) + ' s',
				     num(x.old_errors) + ' / ' + num(x.old_writes),
				     num(x.new_errors) + ' / ' + num(x.new_writes)]);
		});
		(c.log || []).slice(-10).reverse().forEach(function (l) {
			row(log, [l.at, l.by, l.action, l.step, l.phase, l.note]);
		});
	}

	function render(d) {
		if (prev && d.time > prev.time)
			hist.push(sample(d, prev));
		while (hist.length && hist[0].t < d.time - KEEP_MS)
			hist.shift();
		prev = d;
		renderRelay(d);
		renderCutover(d);
		charts(d);
		polls++;
		document.body.dataset.state = 'ok';
		document.body.dataset.polls = String(polls);
		setText('conn', 'live', 'pass');
		setText('updated', 'updated ' + new Date(d.time).toISOString().replace('.000', ''));
	}

	function poll() {
		fetch('/api/status', { cache: 'no-store', credentials: 'same-origin' })
			.then(function (r) {
				if (!r.ok)
					throw new Error('/api/status answered ' + r.status);
				return r.json();
			})
			.then(function (d) {
				try {
					render(d);
				} catch (e) {
					showError('script error: ' + (e.stack || e));
					console.error(e);
				}
			}, function (e) {
				// the relay is down or restarting: say so, keep polling
				setText('conn', 'cannot reach the relay: ' + e.message, 'fail');
				document.body.dataset.state = 'unreachable';
			})
			.finally(function () { setTimeout(poll, POLL_MS); });
	}

	renderSteps(null);
	poll();
})();
