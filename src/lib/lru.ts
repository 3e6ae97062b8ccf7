/**
 * A map that forgets entries beyond a budget, those not used lately first. Each entry has a
 * cost (1 by default; a string's length, say), and the costs of all entries stay within `max`.
 * An entry costing more than the whole budget is not kept.
 *
 * Recency is a mark set on use (second chance, as in CLOCK): a hit moves nothing, so reading a
 * hot cache does not churn the map's table; on eviction the oldest entry goes unless it was used
 * since it last came round, in which case it is moved to the young end with its mark cleared.
 */
export class Lru<K, V> {
  readonly #max: number;
  readonly #cost: (v: V) => number;
  readonly #map = new Map<K, { v: V; c: number; used: boolean }>();
  #total = 0;

  constructor(max: number, cost: (v: V) => number = () => 1) {
    this.#max = max;
    this.#cost = cost;
  }

  /** The sum of the costs held. */
  get total(): number {
    return this.#total;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    e.used = true;
    return e.v;
  }

  set(key: K, v: V): void {
    this.delete(key);
    const c = this.#cost(v);
    if (c > this.#max) return;
    this.#map.set(key, { v, c, used: false });
    this.#total += c;
    // The new entry is never the one to go; every other pass evicts an entry or clears its
    // mark, and the new one alone fits, so this ends.
    while (this.#total > this.#max) {
      const [k, e] = this.#map.entries().next().value!;
      this.#map.delete(k);
      if (e.used || k === key) {
        e.used = false;
        this.#map.set(k, e);
      } else {
        this.#total -= e.c;
      }
    }
  }

  delete(key: K): void {
    const e = this.#map.get(key);
    if (!e) return;
    this.#map.delete(key);
    this.#total -= e.c;
  }
}
