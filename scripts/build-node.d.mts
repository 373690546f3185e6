export declare const NODE_ENTRIES: Record<string, string>;
export declare function buildNode(): Promise<void>;
