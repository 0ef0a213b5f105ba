// The PAC helper functions (Netscape's list, as browsers provide them), as source evaluated
// inside the PAC's own context: nothing of ferry's realm is reachable from the PAC, not even a
// function's constructor. DNS answers are looked up by ferry before each call and handed in as
// data (__ferryDns); myIpAddress() is data too.
export const PAC_HELPERS = String.raw`
var __ferryDns = {};
var __ferryMyIp = '127.0.0.1';
function isPlainHostName(host) { return String(host).indexOf('.') === -1; }
function dnsDomainIs(host, domain) {
  host = String(host).toLowerCase(); domain = String(domain).toLowerCase();
  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}
function localHostOrDomainIs(host, hostdom) {
  host = String(host).toLowerCase(); hostdom = String(hostdom).toLowerCase();
  return host === hostdom || (host.indexOf('.') === -1 && hostdom.indexOf(host + '.') === 0);
}
function __ferryIsIp(s) { return /^\d{1,3}(\.\d{1,3}){3}$/.test(String(s)); }
function dnsResolve(host) {
  host = String(host);
  if (__ferryIsIp(host)) return host;
  var a = __ferryDns[host.toLowerCase()];
  return a === undefined ? null : a;
}
function isResolvable(host) { return dnsResolve(host) !== null; }
function myIpAddress() { return __ferryMyIp; }
function convert_addr(ip) {
  var p = String(ip).split('.');
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}
function isInNet(host, pattern, mask) {
  var ip = dnsResolve(host);
  if (ip === null || !__ferryIsIp(ip)) return false;
  return (convert_addr(ip) & convert_addr(mask)) >>> 0 === (convert_addr(pattern) & convert_addr(mask)) >>> 0;
}
function dnsDomainLevels(host) { return String(host).split('.').length - 1; }
function shExpMatch(str, shexp) {
  var re = String(shexp).replace(/[.+^$(){}|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp('^' + re + '$').test(String(str));
}
var __ferryDays = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
function __ferryNow(args) {
  var gmt = args.length && args[args.length - 1] === 'GMT';
  var d = new Date();
  return { gmt: gmt, day: gmt ? d.getUTCDay() : d.getDay(), hour: gmt ? d.getUTCHours() : d.getHours(),
    min: gmt ? d.getUTCMinutes() : d.getMinutes(), date: gmt ? d.getUTCDate() : d.getDate(),
    month: gmt ? d.getUTCMonth() : d.getMonth(), year: gmt ? d.getUTCFullYear() : d.getFullYear() };
}
function __ferryIn(v, a, b) { return a <= b ? v >= a && v <= b : v >= a || v <= b; }
function weekdayRange(wd1, wd2) {
  var n = __ferryNow(arguments);
  var a = __ferryDays.indexOf(String(wd1).toUpperCase());
  var b = typeof wd2 === 'string' && wd2 !== 'GMT' ? __ferryDays.indexOf(wd2.toUpperCase()) : a;
  return __ferryIn(n.day, a, b);
}
function timeRange() {
  var n = __ferryNow(arguments);
  var a = [].slice.call(arguments).filter(function (x) { return x !== 'GMT'; }).map(Number);
  if (a.length === 1) return n.hour === a[0];
  if (a.length === 2) return __ferryIn(n.hour, a[0], a[1]);
  var now = n.hour * 60 + n.min;
  return __ferryIn(now, a[0] * 60 + a[1], a[2] * 60 + a[3]);
}
var __ferryMonths = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
function dateRange() {
  var n = __ferryNow(arguments);
  var a = [].slice.call(arguments).filter(function (x) { return x !== 'GMT'; });
  function val(x) {
    var m = __ferryMonths.indexOf(String(x).toUpperCase());
    if (m !== -1) return { k: 'month', v: m };
    return +x > 31 ? { k: 'year', v: +x } : { k: 'date', v: +x };
  }
  var vs = a.map(val);
  if (vs.length === 1) return n[vs[0].k] === vs[0].v;
  var half = vs.length / 2, from = 0, to = 0, now = 0;
  for (var i = 0; i < half; i++) {
    var k = vs[i].k, w = k === 'year' ? 10000 : k === 'month' ? 100 : 1;
    from += vs[i].v * w; to += vs[i + half].v * w; now += n[k] * w;
  }
  return __ferryIn(now, from, to);
}
function alert() {}
function __ferryFind(url, host, dns, myIp) {
  __ferryDns = JSON.parse(dns);
  __ferryMyIp = myIp;
  try {
    return 'OK\n' + String(FindProxyForURL(url, host));
  } catch (e) {
    return 'ERR\n' + String(e && e.stack ? e.stack : e);
  }
}
`;
