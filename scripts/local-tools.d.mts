export declare function electronBinary(): string | null;
export declare function systemChromium(): string | null;
