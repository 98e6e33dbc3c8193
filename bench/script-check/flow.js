// A realistic 5-request flow in the original platform's style: log in, list,
// pick an item from the JSON, order it, check the order; data from AMMO_URL.
import http from 'k6/http';
import { check, group, sleep, fail } from 'k6';
import { SharedArray } from 'k6/data';
import { scenario, vu } from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import { b64encode } from 'k6/encoding';
import { hmac } from 'k6/crypto';
import { pick, jsonHeaders } from './lib/helpers.js';

const API_URL = `${__ENV.API_URL}`;
const users = new SharedArray('users', () => JSON.parse(open(__ENV.AMMO_URL)));
const orders = new Counter('orders');
const okRate = new Rate('flow_ok');
const cartTime = new Trend('cart_ms', true);

export const options = {
    insecureSkipTLSVerify: true,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
    scenarios: {
        checkout: {
            executor: 'ramping-arrival-rate',
            startRate: 1,
            timeUnit: '1s',
            preAllocatedVUs: 1,
            maxVUs: 200,
            stages: [{ target: Number(__ENV.RPS), duration: __ENV.DURATION }],
        },
    },
};

function login(user) {
    const body = JSON.stringify({ login: user.login, password: user.password });
    const res = http.post(`${API_URL}/auth/login`, body, { headers: jsonHeaders(), tags: { name: 'login' } });
    if (!check(res, { 'login 200': (r) => r.status === 200 })) {
        fail(`login failed: ${res.status} ${res.body}`);
    }
    return res.json('token');
}

export default function () {
    const user = users[scenario.iterationInTest % users.length];
    let ok = true;
    group('checkout', () => {
        const token = login(user);
        const auth = { headers: Object.assign(jsonHeaders(), { Authorization: `Bearer ${token}` }) };
        const list = http.get(`${API_URL}/items?page=1&size=20`, Object.assign({ tags: { name: 'items' } }, auth));
        ok = check(list, { 'items 200': (r) => r.status === 200, 'has items': (r) => r.json('items').length > 0 }) && ok;
        const item = pick(list.json('items'), vu.idInTest);
        const started = Date.now();
        const cart = http.post(`${API_URL}/cart`, JSON.stringify({ id: item.id, qty: 1 }), auth);
        cartTime.add(Date.now() - started);
        ok = check(cart, { 'cart 201': (r) => r.status === 201 }) && ok;
        const sig = hmac('sha256', __ENV.SECRET || 'k', `${item.id}:${user.login}`, 'hex');
        const order = http.post(`${API_URL}/orders`, JSON.stringify({ cart: cart.json('id'), sig }), auth);
        ok = check(order, { 'order 201': (r) => r.status === 201 }) && ok;
        if (order.status === 201) {
            orders.add(1);
        }
        const status = http.get(`${API_URL}/orders/${order.json('id')}`, Object.assign({ tags: { name: 'order' } }, auth));
        ok = check(status, { 'order placed': (r) => r.json('state') === 'placed' }) && ok;
        if (/error|fail/i.test(status.body)) {
            console.warn(`order ${b64encode(String(order.json('id')))} looks wrong`);
        }
    });
    okRate.add(ok);
    sleep(1);
}
