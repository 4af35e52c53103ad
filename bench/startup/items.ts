/** The `startup` row's work: ten items, each squared (the answer every script must print). */

export const ITEMS: readonly number[] = Array.from({ length: 10 }, (_, i) => i);
export const square = (x: number): number => x * x;
