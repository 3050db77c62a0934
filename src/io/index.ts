/** Node file-system IO for tfjs models (no tfjs-node needed) and training checkpoints. */
export { fileSystem, writeFileAtomic, MODEL_JSON, WEIGHTS_BIN } from './fs_io';
export { saveCheckpoint, loadCheckpoint, readCheckpointState, resolveCheckpoint, isCheckpoint, checkpointProblem, CheckpointRun, CHECKPOINT_FILES } from './checkpoint';
export type { CheckpointState, LoadedCheckpoint, ResumePlan } from './checkpoint';
