// Types for piston-client 1.0.2 (it ships none), as its readme documents it.
declare module "piston-client" {
  interface PistonStage {
    stdout: string;
    stderr: string;
    output: string;
    code: number | null;
    signal: string | null;
    [more: string]: unknown;
  }
  interface ExecuteConfig {
    language?: string;
    version?: string;
    files?: { name?: string; content: string; encoding?: string }[];
    stdin?: string;
    args?: string[];
    compileTimeout?: number;
    runTimeout?: number;
    compileMemoryLimit?: number;
    runMemoryLimit?: number;
  }
  interface Client {
    runtimes(): Promise<{ language: string; version: string; aliases: string[] }[] & { success?: false }>;
    execute(
      language: string,
      code: string,
      config?: ExecuteConfig,
    ): Promise<{ language: string; version: string; run?: PistonStage; compile?: PistonStage; message?: string }>;
  }
  export function piston(opts?: { server?: string }): Client;
  export default piston;
}
