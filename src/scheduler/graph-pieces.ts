/**
 * Fusing a task graph into pieces (issue 17: batching and locality). A piece is a small tree of
 * nodes in which every node but the root has exactly one reader, the next node up, and is not
 * wanted by the caller: its value is needed nowhere else, so the piece can run as one item on
 * one worker (worker/piece-tasks.ts) and only the root's value comes back. A binary tree sum
 * becomes subtrees of up to `limit` nodes, a load → transform chain one piece per item.
 *
 * Pieces are grown greedily, inputs first: a fusable node takes in each fusable input that has
 * no other reader while the piece stays within `limit` nodes. It relies on the plan's numbering
 * (api/graph.ts: each node numbered when first met as an input, or as a root): an input with
 * one reader was met from that reader, so it has the larger number, and one pass down the
 * numbers sees every such input before its reader, one pass up every reader before its inputs.
 * No sort, and all state in typed arrays, a few bytes a node.
 */

export interface PieceInput {
  readonly nodes: number;
  readonly inputStart: Uint32Array;
  readonly inputs: Uint32Array;
  readonly dependentStart: Uint32Array;
  readonly dependents: Uint32Array;
  readonly isOutput: Uint8Array;
  readonly fusable: Uint8Array;
}

export interface Pieces {
  /** 1 where the node is inside the piece of its one reader (not a piece's root). */
  readonly merged: Uint8Array;
  /** 1 where the node is the root of a piece (of `least` nodes or more: smaller ones run as nodes). */
  readonly isPiece: Uint8Array;
  /** The root of the piece each node belongs to (itself for a root). */
  readonly rootOf: Int32Array;
}

/**
 * Cut the graph into pieces of at most `limit` nodes; pieces of fewer than `least` are undone
 * (their nodes run one by one, as unfused nodes do: a piece costs more to ship than a node,
 * and a load → transform pair gains too little from staying on its worker to pay for it).
 */
export function findPieces(g: PieceInput, limit: number, least: number): Pieces {
  const { nodes, inputStart, inputs, dependentStart, dependents, isOutput, fusable } = g;
  const size = new Int32Array(nodes);
  const merged = new Uint8Array(nodes);
  for (let node = nodes - 1; node >= 0; node--) {
    let grown = 1;
    if (fusable[node] === 1) {
      const end = inputStart[node + 1] as number;
      for (let place = inputStart[node] as number; place < end; place++) {
        const input = inputs[place] as number;
        if (
          input > node &&
          fusable[input] === 1 &&
          isOutput[input] === 0 &&
          (dependentStart[input + 1] as number) - (dependentStart[input] as number) === 1 &&
          grown + (size[input] as number) <= limit
        ) {
          merged[input] = 1;
          grown += size[input] as number;
        }
      }
    }
    size[node] = grown;
  }
  // Readers first: a merged node's root is its one reader's.
  const rootOf = new Int32Array(nodes);
  for (let node = 0; node < nodes; node++) {
    rootOf[node] =
      merged[node] === 1 ? (rootOf[dependents[dependentStart[node] as number] as number] as number) : node;
  }
  const isPiece = new Uint8Array(nodes);
  for (let node = 0; node < nodes; node++) {
    const root = rootOf[node] as number;
    if ((size[root] as number) >= least) {
      if (root === node) isPiece[node] = 1;
    } else {
      merged[node] = 0;
      rootOf[node] = node;
    }
  }
  return { merged, isPiece, rootOf };
}
